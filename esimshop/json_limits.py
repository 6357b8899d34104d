"""Size and nesting limits on every JSON request body, before any parser sees it.

Python's json module recurses per nesting level: a 100,000-deep body is a RecursionError (a 500
with a traceback) in DRF's parser or our callback views. This middleware answers such bodies
with a JSON error instead: 413 over JSON_MAX_BODY_BYTES, 400 over JSON_MAX_DEPTH.
A request is a JSON request by its Content-Type, or by its path (the API and the eSIM Go
callback parse JSON whatever the client declared).
"""

import re

from django.conf import settings

from esimshop.api_errors import API_PREFIX, error_response

JSON_PATH_PREFIXES = (API_PREFIX, "/esimgo/callback/")
# Whole JSON strings (escapes included): brackets inside them are not nesting.
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
BRACKET = re.compile(rb"[\[\]{}]")


def nesting_depth(body: bytes, stop_above: int) -> int:
    """The deepest bracket nesting in `body` (stops counting once it exceeds `stop_above`)."""
    depth = deepest = 0
    for match in BRACKET.finditer(JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    return deepest
        else:
            depth -= 1
    return deepest


def _is_json_request(request) -> bool:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    return "json" in request.META.get("CONTENT_TYPE", "").lower() or request.path.startswith(JSON_PATH_PREFIXES)


class JsonBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _is_json_request(request):
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    @staticmethod
    def _refusal(request):
        max_bytes = int(settings.JSON_MAX_BODY_BYTES)
        max_depth = int(settings.JSON_MAX_DEPTH)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > max_bytes:
            return error_response("payload_too_large")
        body = request.body
        if len(body) > max_bytes:
            return error_response("payload_too_large")
        if nesting_depth(body, max_depth) > max_depth:
            return error_response("json_too_deep")
        return None
