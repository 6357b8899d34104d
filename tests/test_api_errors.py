"""One JSON error shape for every endpoint (issue 11, docs/api.md): {"code", "error", "errors"}."""

import json
import re
import uuid

import pytest
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.test import RequestFactory
from django.utils import translation

from esimshop import api_errors

PURCHASE_URL = "/api/customer/transactions/purchase"
CYRILLIC = re.compile(r"[А-Яа-яЁёӨөҮү]")


def shaped(response, code, status):
    body = response.json()
    assert response.status_code == status, (response.status_code, body)
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"], body
    return body


@pytest.mark.parametrize("code", sorted(api_errors.ERRORS))
def test_every_code_speaks_mongolian_and_english(code):
    message = api_errors.ERRORS[code].message
    with translation.override("mn"):
        assert CYRILLIC.search(str(message)), (code, str(message))
    with translation.override("en"):
        assert not CYRILLIC.search(str(message)), (code, str(message))


def test_every_status_code_names_a_known_code():
    assert set(api_errors.STATUS_CODES.values()) <= set(api_errors.ERRORS)
    assert set(api_errors.DRF_CODES.values()) <= set(api_errors.ERRORS)


@pytest.mark.django_db
def test_field_errors_name_the_fields_and_lead_with_the_first(client):
    body = shaped(client.post(PURCHASE_URL, "{}", content_type="application/json"), "invalid", 400)
    assert set(body["errors"]) == {"phoneNumber", "email", "amount", "packageCode"}
    assert body["error"] == next(iter(body["errors"].values()))[0]


@pytest.mark.django_db
def test_drf_refusals_have_codes(client):
    shaped(client.post(PURCHASE_URL, "{not json", content_type="application/json"), "malformed_json", 400)
    shaped(client.post(PURCHASE_URL, "phone=1", content_type="text/plain"), "unsupported_media_type", 415)
    body = shaped(client.get(PURCHASE_URL), "method_not_allowed", 405)
    assert "errors" not in body


@pytest.mark.django_db
def test_a_plain_django_refusal_under_the_api_becomes_the_shape(client):
    """The status endpoint is a plain view with require_GET: Django's empty 405, made JSON."""
    response = client.post(f"/api/customer/transactions/{uuid.uuid4()}/status", "{}", content_type="application/json")
    shaped(response, "method_not_allowed", 405)
    assert response["Allow"] == "GET"


@pytest.mark.django_db
def test_unknown_invoice_and_unknown_url_are_the_same_not_found(client):
    shaped(client.get(f"/api/customer/transactions/{uuid.uuid4()}/status?token=x"), "not_found", 404)
    shaped(client.get("/api/no-such-thing/"), "not_found", 404)


@pytest.mark.django_db
def test_the_message_is_in_the_request_language(client):
    mongolian = shaped(client.get("/api/no-such-thing/"), "not_found", 404)
    english = shaped(client.get("/api/no-such-thing/", HTTP_ACCEPT_LANGUAGE="en"), "not_found", 404)
    assert CYRILLIC.search(mongolian["error"]) and english["error"] == "Not found."


@pytest.mark.django_db
def test_rate_limited_is_429_with_retry_after(client, settings):
    settings.PAYMENTS_STATUS_RATE_LIMIT_PER_MINUTE = 0
    response = client.get(f"/api/customer/transactions/{uuid.uuid4()}/status?token=x")
    shaped(response, "rate_limited", 429)
    assert int(response["Retry-After"]) >= 1


@pytest.mark.django_db
def test_body_limits_have_codes(client, settings):
    settings.JSON_MAX_DEPTH = 3
    shaped(client.post(PURCHASE_URL, "[[[[[1]]]]]", content_type="application/json"), "json_too_deep", 400)
    settings.JSON_MAX_BODY_BYTES = 10
    shaped(
        client.post(PURCHASE_URL, json.dumps({"a": "x" * 20}), content_type="application/json"),
        "payload_too_large",
        413,
    )


def test_a_json_error_without_a_code_gets_the_one_its_status_means():
    request = RequestFactory().get("/esims/abc/status.json")
    response = api_errors.conform(request, JsonResponse({"error": "Too many requests."}, status=429))
    assert json.loads(response.content) == {"code": "rate_limited", "error": "Too many requests."}
    fields = api_errors.conform(request, JsonResponse({"error": "bad", "errors": {"x": ["bad"]}}, status=400))
    assert json.loads(fields.content)["code"] == "invalid"


def test_a_drf_style_field_dict_becomes_the_shape():
    request = RequestFactory().get("/api/packages/")
    response = api_errors.conform(request, JsonResponse({"country": ["This field is required."]}, status=400))
    assert json.loads(response.content) == {
        "code": "invalid",
        "error": "This field is required.",
        "errors": {"country": ["This field is required."]},
    }


def test_pages_keep_their_html_errors_and_the_api_gets_json():
    page = HttpResponse("<h1>nope</h1>", status=405)
    assert api_errors.conform(RequestFactory().get("/countries/"), page) is page
    api = api_errors.conform(RequestFactory().put("/api/packages/"), HttpResponseNotAllowed(["GET"]))
    assert json.loads(api.content)["code"] == "method_not_allowed" and api["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/payments/qpay/callback/x/", "/esimgo/callback/", "/sandbox/qpay/v2/invoice"])
def test_callbacks_and_the_sandbox_keep_their_own_protocols(path):
    provider_shape = JsonResponse({"error": "INVOICE_NOTFOUND", "message": "Нэхэмжлэл олдсонгүй"}, status=422)
    middleware = api_errors.ErrorShapeMiddleware(lambda request: provider_shape)
    response = middleware(RequestFactory().post(path))
    assert json.loads(response.content) == {"error": "INVOICE_NOTFOUND", "message": "Нэхэмжлэл олдсонгүй"}


def test_the_content_length_follows_the_new_body():
    response = JsonResponse({"error": "x"}, status=404)
    response["Content-Length"] = str(len(response.content))
    api_errors.conform(RequestFactory().get("/api/x/"), response)
    assert response["Content-Length"] == str(len(response.content))


def test_nested_validation_errors_are_named_by_path():
    assert api_errors._flatten({"order": [{"item": ["bad"]}], "email": ["no"]}) == {
        "order.0.item": ["bad"],
        "email": ["no"],
    }
    assert api_errors._flatten(["Send a list."]) == {"non_field_errors": ["Send a list."]}
