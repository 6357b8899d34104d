"""Overload answers 503 at once instead of queueing for minutes.

The web server runs gunicorn gthread workers (Procfile): GUNICORN_THREADS threads per process,
most of them waiting on QPay or eSIM Go at any moment. When shoppers arrive faster than the
machine can serve them, every thread is busy and new requests queue inside gunicorn, unseen by
Django and with no bound on the wait. This middleware bounds the requests a process works on
(WEB_MAX_IN_FLIGHT, a little below the thread count): one more than that is answered 503 with
Retry-After in well under a millisecond, so a shopper learns "try again in a moment" instead of
watching a spinner, and the threads left over stay free for what must never wait behind a rush.

Never refused: provider callbacks (QPay's payment hint and eSIM Go's usage callback - turning
them away would only make the provider retry later, and each one is money or data arriving) and
the health checks (a load balancer must see a busy process as alive). They still count as in
flight, so the bound stays honest.

Per process, not shared: the point is to protect this process's threads, and a per-process
counter costs nothing (no Redis round trip, no leaked count if a process dies).
"""

import threading

from django.conf import settings
from django.http import HttpResponse

from esimshop.api_errors import API_PREFIX, CALLBACK_PREFIXES, ERRORS, error_response

NEVER_REFUSED_PREFIXES = (*CALLBACK_PREFIXES, "/healthz", "/readyz")


class InFlightCounter:
    def __init__(self):
        self._lock = threading.Lock()
        self.value = 0

    def enter(self, bound: int | None) -> bool:
        """Count one more request unless `bound` (None: no bound) is already reached."""
        with self._lock:
            if bound is not None and self.value >= bound:
                return False
            self.value += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.value -= 1


class OverloadMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.in_flight = InFlightCounter()

    def __call__(self, request):
        bound = settings.WEB_MAX_IN_FLIGHT
        exempt = bound <= 0 or request.path.startswith(NEVER_REFUSED_PREFIXES)
        if not self.in_flight.enter(None if exempt else bound):
            return overloaded(request)
        try:
            return self.get_response(request)
        finally:
            self.in_flight.leave()


def overloaded(request):
    retry_after = str(settings.WEB_OVERLOAD_RETRY_AFTER_SECONDS)
    if request.path.startswith(API_PREFIX):
        response = error_response("overloaded")
    else:
        response = HttpResponse(str(ERRORS["overloaded"].message), status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = retry_after
    response["Cache-Control"] = "no-store"
    return response
