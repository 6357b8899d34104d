from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static


def healthz(request):
    return JsonResponse({"ok": True})


def page_not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Server error."}, status=500)
    return render(request, "500.html", status=500)


def favicon(request):
    """/favicon.ico -> the hashed favicon.svg. Resolved per request, not when the URLconf is
    imported: the static manifest exists only after collectstatic (the release step)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
