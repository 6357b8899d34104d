import sys

from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static

from esimshop.api_errors import API_PREFIX, error_response
from esimshop.infrastructure import is_infrastructure_error
from esimshop.unavailable import unavailable_response


def healthz(request):
    return JsonResponse({"ok": True})


def page_not_found(request, exception=None):
    if request.path.startswith(API_PREFIX):
        return error_response("not_found")
    return render(request, "404.html", status=404)


def server_error(request):
    # Django calls this inside its `except` block: the exception being handled is at hand.
    exc = sys.exc_info()[1]
    if is_infrastructure_error(exc):
        return unavailable_response(request, exc)
    if request.path.startswith(API_PREFIX):
        return error_response("server_error")
    return render(request, "500.html", status=500)


def favicon(request):
    """/favicon.ico -> the hashed favicon.svg. Resolved per request, not when the URLconf is
    imported: the static manifest exists only after collectstatic (the release step)."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
