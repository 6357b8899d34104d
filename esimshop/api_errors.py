"""The one JSON error shape of the shop (docs/api.md), and the one place that builds it.

    {"code": "invalid", "error": "Enter a Mongolian phone number of 8 digits.",
     "errors": {"phoneNumber": ["Enter a Mongolian phone number of 8 digits."]}}

- `code`: machine-readable and stable (ERRORS below); programs branch on it.
- `error`: one sentence for a person, in the request's language (esimshop.middleware picks it).
  Always a string: the shop's own scripts show it as it is (telegram/static/telegram/miniapp.js),
  and API clients have read it since the first purchase contract.
- `errors`: only when particular fields were refused, {field: [messages]}; `error` is then the
  first of those messages.
An endpoint may add keys of its own protocol next to these (Telegram's `ok`, /readyz's `ready`).

Views answer through `error_response`; DRF's own refusals (parse errors, wrong method or media
type, serializer validation) through `exception_handler` (REST_FRAMEWORK["EXCEPTION_HANDLER"]).
`ErrorShapeMiddleware` holds every other answer to the shape: a JSON error body without a `code`
gets the one its status means, and under /api/ a non-JSON error (Django's 405 for a wrong method,
its 400 for a bad Host header) becomes this JSON. Provider callbacks keep their own protocols
(`CALLBACK_PREFIXES`: QPay and eSIM Go get 200 with a reason for what they must not resend), and
the sandbox speaks the providers' shapes, not ours.

Not drf-standardized-errors: its shape (`type` + a list of `{code, detail, attr}`) would break
every client that reads `error` as a string.
"""

import json
from dataclasses import dataclass

from django.conf import settings
from django.http import JsonResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler as drf_exception_handler

API_PREFIX = "/api/"
# Their own protocols: provider callbacks, the sandbox providers, the health and metrics probes.
CALLBACK_PREFIXES = ("/payments/qpay/callback/", "/esimgo/callback/")
OWN_PROTOCOL_PREFIXES = (*CALLBACK_PREFIXES, "/sandbox/", "/healthz", "/readyz", "/metrics")
# Headers of the original answer that still hold for the JSON that replaces it.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


@dataclass(frozen=True)
class ErrorKind:
    status: int
    message: Promise


ERRORS = {
    "bad_request": ErrorKind(400, _("The request could not be understood.")),
    "invalid": ErrorKind(400, _("Some of the values sent are not valid.")),
    "malformed_json": ErrorKind(400, _("Send a JSON object.")),
    "json_too_deep": ErrorKind(400, _("The JSON is nested too deeply.")),
    "unauthorized": ErrorKind(401, _("Authentication is required.")),
    "forbidden": ErrorKind(403, _("You are not allowed to do this.")),
    "telegram_sign_in_refused": ErrorKind(403, _("Please open the shop again from the bot.")),
    "telegram_not_signed_in": ErrorKind(403, _("Open the shop from the bot first.")),
    "not_found": ErrorKind(404, _("Not found.")),
    "method_not_allowed": ErrorKind(405, _("This method is not allowed here.")),
    "not_acceptable": ErrorKind(406, _("This answer is only available as JSON.")),
    "conflict": ErrorKind(409, _("The request conflicts with the current state.")),
    "payload_too_large": ErrorKind(413, _("The request body is too large.")),
    "unsupported_media_type": ErrorKind(415, _("Send the request body as application/json.")),
    "unprocessable": ErrorKind(422, _("The request cannot be processed as sent.")),
    "rate_limited": ErrorKind(429, _("Too many requests. Slow down.")),
    "server_error": ErrorKind(500, _("Server error.")),
    "unavailable": ErrorKind(503, _("The service is temporarily unavailable. Please try again shortly.")),
    "overloaded": ErrorKind(503, _("The shop is very busy right now. Please try again in a few seconds.")),
    "readiness_check_failed": ErrorKind(503, _("The readiness check itself failed.")),
}
# The code an HTTP status means when the answer names none (one per status).
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "server_error",
    502: "unavailable",
    503: "unavailable",
    504: "unavailable",
}
# DRF's exception codes -> ours.
DRF_CODES = {
    "parse_error": "malformed_json",
    "not_authenticated": "unauthorized",
    "authentication_failed": "unauthorized",
    "permission_denied": "forbidden",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "rate_limited",
}


def code_for_status(status: int, *, has_fields: bool = False) -> str:
    if status == 400 and has_fields:
        return "invalid"
    return STATUS_CODES.get(status, "server_error" if status >= 500 else "bad_request")


def error_body(code: str, message=None, *, fields: dict | None = None) -> dict:
    """The shape itself. `message` defaults to the first field message, else the code's own."""
    fields = {str(name): [str(m) for m in messages] for name, messages in (fields or {}).items()}
    if message is None:
        first = next((messages[0] for messages in fields.values() if messages), None)
        message = first if first is not None else ERRORS[code].message
    body = {"code": code, "error": str(message)}
    if fields:
        body["errors"] = fields
    return body


def error_response(
    code: str,
    message=None,
    *,
    status: int | None = None,
    fields: dict | None = None,
    retry_after: int | None = None,
    extra: dict | None = None,
) -> JsonResponse:
    """A JsonResponse in the shape; status defaults to the code's. `extra`: keys of the endpoint's
    own protocol (e.g. Telegram's "ok"), put before the error's."""
    response = JsonResponse(
        {**(extra or {}), **error_body(code, message, fields=fields)},
        status=status or ERRORS[code].status,
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


# --- DRF -----------------------------------------------------------------------------------


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's ValidationError detail -> {field: [messages]} (nested fields as "parent.child")."""
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for name, value in detail.items():
            fields.update(_flatten(value, f"{prefix}.{name}" if prefix else str(name)))
        return fields
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        fields = {}
        for index, item in enumerate(detail):
            fields.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return fields
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]}


def exception_handler(exc, context):
    """DRF's handler, answering in the shop's shape (None: DRF re-raises, Django's handlers answer)."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", fields=_flatten(response.data))
        return response
    detail = response.data.get("detail") if isinstance(response.data, dict) else None
    drf_code = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    code = DRF_CODES.get(drf_code) if isinstance(drf_code, str) else None
    response.data = error_body(code or code_for_status(response.status_code), detail)
    return response


class ApiErrorSerializer(serializers.Serializer):
    """The shape, for the OpenAPI schema (drf-spectacular)."""

    code = serializers.CharField(help_text="Machine-readable reason, e.g. invalid, not_found, rate_limited.")
    error = serializers.CharField(help_text="A sentence for a person, in the request's language.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only when particular fields were refused: {field: [messages]}.",
    )


# --- every other answer ---------------------------------------------------------------------


class ErrorShapeMiddleware:
    """Error answers that did not come through error_response still leave in the shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or response.streaming or request.path.startswith(OWN_PROTOCOL_PREFIXES):
            return response
        return conform(request, response)


def conform(request, response):
    """`response` (an error) in the shape: JSON given a `code`, or under /api/ replaced by JSON."""
    is_json = response.get("Content-Type", "").startswith("application/json")
    body = _json_object(response.content) if is_json else None
    if body is not None and isinstance(body.get("error"), str):
        if "code" in body:
            return response
        has_fields = isinstance(body.get("errors"), dict) and bool(body["errors"])
        _replace_content(response, {"code": code_for_status(response.status_code, has_fields=has_fields), **body})
        return response
    if body is not None and body and all(isinstance(v, list) for v in body.values()):
        replacement = error_response("invalid", status=response.status_code, fields=body)  # DRF-style fields
    elif settings.DEBUG and response.status_code == 500 and not is_json:
        return response  # development: Django's page with the traceback
    elif is_json or request.path.startswith(API_PREFIX):
        replacement = error_response(code_for_status(response.status_code), status=response.status_code)
    else:
        return response  # an HTML page's error: the page is the answer
    for header in KEPT_HEADERS:
        if response.has_header(header):
            replacement[header] = response[header]
    for header in ("Vary", "Content-Language", "Cache-Control"):
        if response.has_header(header):
            replacement[header] = response[header]
    return replacement


def _json_object(content: bytes) -> dict | None:
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _replace_content(response, body: dict) -> None:
    response.content = json.dumps(body).encode()
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
