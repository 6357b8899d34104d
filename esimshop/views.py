from django.http import JsonResponse
from django.shortcuts import render


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
