"""API-wide conventions: every error is JSON with a machine-readable shape."""

from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"error": response.data["detail"], **{k: v for k, v in response.data.items() if k != "detail"}}
    return response
