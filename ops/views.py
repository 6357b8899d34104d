"""/readyz (readiness, JSON) and /metrics (Prometheus, token or allowed address)."""

import ipaddress
import logging

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from esimshop.api_errors import error_body
from esimshop.client_address import client_address
from ops import metrics, readiness

logger = logging.getLogger(__name__)


@never_cache
def readyz(request):
    """200 when every check passes, 503 otherwise; never a 500 (the report itself can't raise)."""
    try:
        report = readiness.report()
    except Exception as exc:  # noqa: BLE001 - belt and braces: a probe must get JSON, not a 500 page
        logger.exception("readyz failed")
        body = {"ready": False, "checks": [], **error_body("readiness_check_failed", type(exc).__name__)}
        response = JsonResponse(body, status=503)
        response._has_been_logged = True  # logged just above, once
        return response
    response = JsonResponse(report.as_json(), status=200 if report.ready else 503)
    # A 503 here is an answer, not an error of this request: without this Django logs every
    # not-ready probe at ERROR, which Sentry would report every few seconds during an outage.
    response._has_been_logged = True
    return response


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    auth = request.headers.get("Authorization", "")
    if token and auth.startswith("Bearer ") and constant_time_compare(auth[7:].strip(), token):
        return True
    address = client_address(request)  # proxy-aware (TRUSTED_PROXY_COUNT)
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if ipaddress.ip_address(address) in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


@never_cache
def prometheus_metrics(request):
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_IPS:
        raise Http404("metrics are not enabled")
    if not _allowed(request):
        response = HttpResponse("forbidden\n", status=403, content_type="text/plain")
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
