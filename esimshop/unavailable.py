"""503, never 500, when the database or Redis is down (esimshop/infrastructure.py says which
errors those are).

Two hooks, because an infrastructure fault can surface in two places:
  * `ServiceUnavailableMiddleware.process_exception`: raised by a view (pages, the API, QPay's
    callback; DRF re-raises what it does not handle itself);
  * `server_error` (handler500, esimshop/views.py): raised anywhere else in the request, e.g.
    the session middleware saving a session to a database that just went away.
Either answers 503 with Retry-After: JSON under /api/, plain text for provider callbacks (QPay
may send it again), a friendly page for shoppers. Nothing is charged by a request that fails
this way: every write of the money path is one transaction, committed or not at all.
"""

import logging

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string

from esimshop.api_errors import API_PREFIX, CALLBACK_PREFIXES, error_response
from esimshop.infrastructure import is_infrastructure_error

logger = logging.getLogger(__name__)


def retry_after_seconds() -> int:
    return int(settings.UNAVAILABLE_RETRY_AFTER_SECONDS)


def unavailable_response(request, exc) -> HttpResponse:
    path = getattr(request, "path", "") or ""
    logger.warning(
        "503 for %s %s: %s (%s)",
        getattr(request, "method", "?"),
        path,
        exc.__class__.__name__,
        str(exc).splitlines()[0][:200] if str(exc) else "",
    )
    if path.startswith(API_PREFIX):
        response = error_response("unavailable")
    elif path.startswith(CALLBACK_PREFIXES):
        response = HttpResponse("Service unavailable, try again", status=503, content_type="text/plain")
    else:
        # No request context: the context processors and the session may need what is down.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(retry_after_seconds())
    response["Cache-Control"] = "no-store"
    return response


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_infrastructure_error(exception):
            return unavailable_response(request, exception)
        return None
