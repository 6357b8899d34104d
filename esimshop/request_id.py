"""A request id for every request: the proxy's X-Request-ID (nginx sets $request_id) when it sent
a sane one, else a new one. Bound to the log context for the whole request, returned in the
X-Request-ID response header, and carried into the Celery tasks the request enqueues."""

import logging
import re
import time

from structlog.contextvars import bind_contextvars, clear_contextvars

from esimshop.logs import new_request_id

HEADER = "X-Request-ID"
# Ids are logged and echoed: accept only a short token, never arbitrary text from a client.
_SANE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
# Probes would drown the log at one line per second; their answers are in their own JSON.
_QUIET_PATHS = ("/healthz", "/readyz", "/metrics")

logger = logging.getLogger("esimshop.request")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get(HEADER, "")
        request_id = sent if _SANE.match(sent) else new_request_id()
        request.request_id = request_id
        # A server thread serves many requests: ids bound by the last one must not leak into this.
        clear_contextvars()
        bind_contextvars(request_id=request_id)
        started = time.monotonic()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response[HEADER] = request_id
            return response
        finally:
            if not request.path.startswith(_QUIET_PATHS):
                logger.info(
                    "request",
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": status,
                        "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    },
                )
            clear_contextvars()
