"""The sandbox eSIM Go through Django's test client: wire format, strictness, state, faults."""

import base64
import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from sandbox.esimgo import faults, usage
from sandbox.esimgo.catalogue import Catalogue, get_catalogue
from sandbox.esimgo.models import Organisation, SandboxAssignment, SandboxEsim, SandboxOrder

BASE = "/sandbox/esimgo/v2.4"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.SANDBOX_ESIMGO_RATE_LIMIT = 0  # the rate-limit test turns it back on


@pytest.fixture
def api(client, settings):
    key = settings.SANDBOX_ESIMGO_API_KEY

    class Api:
        def get(self, path, **extra):
            return client.get(BASE + path, headers={"X-API-Key": key, **extra.pop("headers", {})}, **extra)

        def post(self, path, body, **extra):
            data = body if isinstance(body, (str, bytes)) else json.dumps(body)
            return client.post(BASE + path, data=data, content_type="application/json", headers={"X-API-Key": key})

        def put(self, path, body):
            return client.put(
                BASE + path, data=json.dumps(body), content_type="application/json", headers={"X-API-Key": key}
            )

        def delete(self, path):
            return client.delete(BASE + path, headers={"X-API-Key": key})

        def buy(self, item="esim_1GB_7D_MN_V2", **line):
            body = {
                "type": "transaction",
                "assign": True,
                "order": [{"type": "bundle", "quantity": 1, "item": item, **line}],
            }
            response = self.post("/orders", body)
            assert response.status_code == 200, response.content
            return response.json()

    return Api()


def order_body(item="esim_1GB_7D_MN_V2", kind="transaction", assign=True, **line):
    return {"type": kind, "assign": assign, "order": [{"type": "bundle", "quantity": 1, "item": item, **line}]}


# --- auth, errors, rate limit ----------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer sandbox-esimgo-key"}])
def test_requires_x_api_key(client, headers):
    response = client.get(f"{BASE}/catalogue", headers=headers)
    assert response.status_code == 403
    assert response.json() == {"message": "access denied"}


def test_accepts_only_this_installations_sandbox_key_never_the_real_one(client, settings):
    """The sandbox never compares a real credential (issue 9): the configured real key is refused."""
    assert client.get(f"{BASE}/organisation", headers={"X-API-Key": settings.SANDBOX_ESIMGO_API_KEY}).status_code == 200
    assert settings.ESIMGO_API_KEY != settings.SANDBOX_ESIMGO_API_KEY
    assert client.get(f"{BASE}/organisation", headers={"X-API-Key": settings.ESIMGO_API_KEY}).status_code == 403


def test_sandbox_keys_are_derived_from_this_installations_secret_key():
    from esimshop.production_checks import sandbox_secret

    assert sandbox_secret("a" * 50, "esimgo-api-key") != sandbox_secret("b" * 50, "esimgo-api-key")
    assert "sandbox-esimgo-key" not in (Path(__file__).parents[2] / "esimshop" / "settings.py").read_text()


def test_unknown_path_is_access_denied_like_live_api(api):
    response = api.get("/bundles")
    assert response.status_code == 403 and response.json() == {"message": "access denied"}


def test_rate_limit_headers_and_429(api, settings):
    settings.SANDBOX_ESIMGO_RATE_LIMIT = 3
    statuses = [api.get("/organisation") for _ in range(6)]
    first = statuses[0]
    assert first["X-Ratelimit-Limit"] == "3"
    assert first["X-Ratelimit-Cost"] == "1"
    assert first["X-Ratelimit-Reset"].endswith("Z")
    codes = [r.status_code for r in statuses]
    # six calls within at most two one-second windows: at least one is refused
    assert codes.count(429) >= 1 and codes[0] == 200
    refused = statuses[codes.index(429)]
    assert refused.json() == {"message": "Rate limit exceeded"} and refused["Retry-After"] == "1"


def test_wrong_method_is_405_with_message(api):
    response = api.delete("/catalogue")
    assert response.status_code == 405 and "message" in response.json()


# --- catalogue -------------------------------------------------------------------------------


def test_catalogue_object_shape_and_pagination(api):
    first = api.get("/catalogue", data={"page": 1, "perPage": 1000}).json()
    assert set(first) == {"bundles", "pageCount", "rows", "pageSize"}
    assert first["rows"] >= 1000 and first["pageSize"] == 1000
    assert len(first["bundles"]) == 1000
    assert first["pageCount"] == -(-first["rows"] // 1000) >= 2
    names = []
    for page in range(1, first["pageCount"] + 1):
        names += [b["name"] for b in api.get("/catalogue", data={"page": page, "perPage": 1000}).json()["bundles"]]
    assert len(names) == len(set(names)) == first["rows"]
    beyond = api.get("/catalogue", data={"page": first["pageCount"] + 1, "perPage": 1000}).json()
    assert beyond["bundles"] == [] and beyond["rows"] == first["rows"]


def test_catalogue_is_realistic_and_covers_key_destinations():
    cat = get_catalogue()
    covered = {c["iso"] for b in cat.bundles for c in b["countries"] + b["roamingEnabled"]}
    assert len(covered) >= 150
    for iso in "MN CN KR JP TH TR US GB DE FR VN SG RU KZ".split():
        assert iso in covered and f"esim_1GB_7D_{iso}_V2" in cat.by_name
    mn = cat.by_name["esim_1GB_7D_MN_V2"]
    assert mn["countries"] == [{"name": "Mongolia", "region": "Asia", "iso": "MN"}]
    assert mn["dataAmount"] == 1000 and mn["duration"] == 7 and mn["groups"] == ["Standard Fixed"]
    assert mn["description"] == "eSIM, 1GB, 7 Days, Mongolia, V2"
    unlimited = cat.by_name["esim_UL_1D_TR_V2"]
    assert unlimited["unlimited"] is True and unlimited["dataAmount"] == -1
    assert unlimited["groups"] == ["Standard Unlimited Lite"]
    assert cat.by_name["esim_ULE_7D_MN_V2"]["groups"] == ["Standard Unlimited Essential"]
    assert cat.by_name["esim_ULP_7D_MN_V2"]["groups"] == ["Standard Unlimited Plus"]
    europe = cat.by_name["esim_1GB_7D_REUP_V2"]
    assert len(europe["countries"]) == 1 and len(europe["roamingEnabled"]) >= 30
    assert "MN" in {c["iso"] for c in cat.by_name["esim_1GB_7D_RAS_V2"]["roamingEnabled"]}
    regions = {c["region"] for b in cat.bundles for c in b["countries"]}
    assert regions == {"Africa", "Asia", "Europe", "Middle East", "North America", "Oceania", "LATAM"}
    for b in cat.bundles:
        assert isinstance(b["price"], Decimal) and b["price"] == b["price"].quantize(Decimal("0.01")) > 0


def test_catalogue_is_deterministic():
    assert Catalogue().json == Catalogue().json


def test_prices_on_the_wire_are_json_decimals(api):
    raw = api.get("/catalogue", data={"countries": "MN", "perPage": 100}).content.decode()
    data = json.loads(raw, parse_float=Decimal)
    prices = {b["name"]: b["price"] for b in data["bundles"]}
    assert prices["esim_1GB_7D_MN_V2"] == get_catalogue().by_name["esim_1GB_7D_MN_V2"]["price"]


def test_countries_filter_matches_base_country_only(api):
    data = api.get("/catalogue", data={"countries": "MN", "perPage": 1000}).json()
    assert data["rows"] == len(data["bundles"]) > 10
    assert all(b["countries"][0]["iso"] == "MN" for b in data["bundles"])
    assert not any("_RAS_" in b["name"] for b in data["bundles"])  # regional covers MN only via roaming


def test_catalogue_filters_and_ordering(api):
    asia = api.get("/catalogue", data={"region": "Asia", "perPage": 1000}).json()["bundles"]
    assert asia and all(b["countries"][0]["region"] == "Asia" for b in asia)
    group = api.get("/catalogue", data={"group": "Standard Unlimited Plus", "perPage": 1000}).json()["bundles"]
    assert group and all(b["groups"] == ["Standard Unlimited Plus"] for b in group)
    described = api.get("/catalogue", data={"description": "mongolia", "perPage": 1000}).json()["bundles"]
    assert described and all("Mongolia" in b["description"] for b in described)
    by_price = api.get("/catalogue", data={"orderBy": "price", "direction": "desc", "perPage": 20}).json()["bundles"]
    prices = [b["price"] for b in by_price]
    assert prices == sorted(prices, reverse=True)
    global_ = api.get("/catalogue", data={"region": "Global", "perPage": 100}).json()["bundles"]
    assert global_ and all("_RGBS_" in b["name"] for b in global_)


@pytest.mark.parametrize(
    "params",
    [
        {"perPage": 5000},
        {"perPage": 0},
        {"page": 0},
        {"page": "x"},
        {"orderBy": "colour"},
        {"direction": "up"},
        {"region": "Mars"},
    ],
)
def test_catalogue_bad_parameters_are_400(api, params):
    response = api.get("/catalogue", data=params)
    assert response.status_code == 400 and response.json()["message"]


def test_bundle_detail_nested_country_shape(api):
    data = api.get("/catalogue/bundle/esim_1GB_7D_REUP_V2").json()
    base = data["countries"][0]
    assert base["country"] == {"name": "France", "region": "Europe", "iso": "FR"}
    assert base["networks"][0]["name"] == "Orange" and base["networks"][0]["speeds"]
    assert all("country" in c and "networks" in c for c in data["roamingEnabled"])
    assert api.get("/catalogue/bundle/esim_nope").status_code == 404


# --- orders ----------------------------------------------------------------------------------


def test_validate_order_charges_nothing(api):
    before = Organisation.current().balance
    response = api.post("/orders", order_body(kind="validate"))
    assert response.status_code == 200
    data = response.json()
    price = get_catalogue().by_name["esim_1GB_7D_MN_V2"]["price"]
    assert data["valid"] is True and Decimal(str(data["total"])) == price
    assert data["order"][0] == {
        "type": "bundle",
        "item": "esim_1GB_7D_MN_V2",
        "quantity": 1,
        "subTotal": float(price),
        "pricePerUnit": float(price),
        "AllowReassign": False,
    }
    assert Organisation.current().balance == before
    assert SandboxOrder.objects.count() == 0


def test_transaction_response_shape_and_balance_debit(api):
    before = Organisation.current().balance
    data = api.buy()
    price = get_catalogue().by_name["esim_1GB_7D_MN_V2"]["price"]
    assert data["status"] == "completed"
    assert data["statusMessage"] == "Order completed: 1 eSIMs assigned"
    assert str(uuid.UUID(data["orderReference"])) == data["orderReference"]
    assert data["currency"] == "USD" and Decimal(str(data["total"])) == price
    assert data["createdDate"].endswith("Z") and data["assigned"] is True
    line = data["order"][0]
    esim = line["esims"][0]
    assert line["iccids"] == [esim["iccid"]]
    assert len(esim["iccid"]) == 19 and esim["iccid"].isdigit()
    assert esim["matchingId"] and esim["smdpAddress"] and "://" not in esim["smdpAddress"]
    assert Organisation.current().balance == before - price
    assert api.get(f"/orders/{data['orderReference']}").json() == data


def test_quantity_creates_several_esims(api):
    data = api.buy(quantity=3)
    assert len(set(data["order"][0]["iccids"])) == 3
    assert data["statusMessage"] == "Order completed: 3 eSIMs assigned"


def test_inventory_purchase_assigns_nothing(api):
    response = api.post("/orders", order_body(assign=False, quantity=2))
    assert response.status_code == 200
    data = response.json()
    assert data["assigned"] is False and "esims" not in data["order"][0]
    assert SandboxEsim.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        [],
        {"type": "purchase", "assign": True, "order": [{"type": "bundle", "quantity": 1, "item": "esim_1GB_7D_MN_V2"}]},
        {"type": "transaction", "assign": True, "order": []},
        {
            "type": "transaction",
            "assign": "yes",
            "order": [{"type": "bundle", "quantity": 1, "item": "esim_1GB_7D_MN_V2"}],
        },
        order_body(item="esim_nope"),
        order_body(quantity=0),
        order_body(quantity=True),
        order_body(quantity="1"),
        order_body(iccids=["8944"], quantity=2),
        order_body(assign=False, iccids=["8944"]),
        order_body(colour="red"),
        {**order_body(), "email": "a@b.mn"},
        {**order_body(), "profileID": "shopper@example.com"},
        order_body(iccids=["894400000000000000"]),  # not our eSIM
    ],
)
def test_bad_order_bodies_are_400_and_charge_nothing(api, body):
    before = Organisation.current().balance
    response = api.post("/orders", body)
    assert response.status_code == 400
    assert response.json()["message"]
    assert SandboxOrder.objects.count() == 0
    assert Organisation.current().balance == before


def test_insufficient_balance_refuses_validate_and_transaction(api):
    Organisation.objects.update_or_create(pk=1, defaults={"balance": Decimal("0.50")})
    for kind in ("validate", "transaction"):
        response = api.post("/orders", order_body(kind=kind))
        assert response.status_code == 400 and response.json() == {"message": "Insufficient balance"}
    assert SandboxOrder.objects.count() == 0


def test_order_list_filters_and_envelope(api):
    old = api.buy()
    SandboxOrder.objects.filter(reference=old["orderReference"]).update(created_at=timezone.now() - timedelta(days=3))
    new = api.buy("esim_3GB_30D_MN_V2")
    listing = api.get("/orders", data={"includeIccids": "true"}).json()
    assert set(listing) == {"orders", "pageCount", "rows"} and listing["rows"] == 2
    assert listing["orders"][0]["orderReference"] == new["orderReference"]  # newest first
    assert listing["orders"][0]["order"][0]["iccids"]
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    recent = api.get(f"/orders?createdAt=gte:{since}&includeIccids=false").json()
    assert [o["orderReference"] for o in recent["orders"]] == [new["orderReference"]]
    assert "iccids" not in recent["orders"][0]["order"][0]
    older = api.get(f"/orders?createdAt=lt:{since}").json()
    assert [o["orderReference"] for o in older["orders"]] == [old["orderReference"]]
    paged = api.get("/orders", data={"limit": 1, "page": 2}).json()
    assert paged["pageCount"] == 2 and paged["orders"][0]["orderReference"] == old["orderReference"]
    assert api.get("/orders?createdAt=gte:yesterday").status_code == 400
    assert api.get(f"/orders/{uuid.uuid4()}").status_code == 404
    assert api.get("/orders/not-a-uuid").status_code == 400


# --- assignments and eSIMs ---------------------------------------------------------------------


def test_assignments_csv_by_default_and_json_on_request(api):
    data = api.buy()
    esim = data["order"][0]["esims"][0]
    ref = data["orderReference"]
    csv_response = api.get("/esims/assignments", data={"reference": ref})
    assert csv_response["Content-Type"].startswith("text/csv")
    lines = csv_response.content.decode().strip().splitlines()
    assert lines[0] == "ICCID,Matching ID,RSP URL,Bundle,Reference"
    assert lines[1] == f"{esim['iccid']},{esim['matchingId']},{esim['smdpAddress']},esim_1GB_7D_MN_V2,{ref}"
    single = api.get("/esims/assignments", data={"reference": ref}, headers={"Accept": "application/json"}).json()
    assert single["iccid"] == esim["iccid"] and single["matchingId"] == esim["matchingId"]
    assert single["smdpAddress"] == esim["smdpAddress"] and single["profileStatus"] == "Released"
    several = api.buy(quantity=2)
    listed = api.get(
        "/esims/assignments", data={"reference": several["orderReference"]}, headers={"Accept": "application/json"}
    ).json()
    assert [row["iccid"] for row in listed] == several["order"][0]["iccids"]
    assert api.get("/esims/assignments", data={"reference": str(uuid.uuid4())}).status_code == 404
    assert api.get("/esims/assignments").status_code == 400


def test_customer_ref_and_esim_listing(api):
    iccid = api.buy()["order"][0]["iccids"][0]
    assert api.put("/esims", {"iccid": iccid, "customerRef": "order-42"}).json() == {"status": "success"}
    detail = api.get(f"/esims/{iccid}").json()
    assert detail["customerRef"] == "order-42" and detail["firstInstalledDateTime"] is None
    listing = api.get("/esims", data={"filterBy": "customerRef", "filter": "order-42", "perPage": 10}).json()
    assert set(listing) == {"esims", "pageCount", "pageSize", "rows"}
    assert [e["iccid"] for e in listing["esims"]] == [iccid]
    assert api.get("/esims", data={"perPage": 7}).status_code == 400
    assert api.put("/esims", {"iccid": "123", "customerRef": "x"}).status_code == 404
    assert api.put("/esims", {"customerRef": "x"}).status_code == 400
    assert api.get("/esims/123").status_code == 404


def _age(iccid, seconds):
    """Move an eSIM's assignments `seconds` into the past."""
    for a in SandboxAssignment.objects.filter(esim__iccid=iccid):
        a.assigned_at -= timedelta(seconds=seconds)
        a.first_used_at -= timedelta(seconds=seconds)
        a.save()


def test_remaining_data_decreases_over_time_through_the_api(api, settings):
    settings.SANDBOX_ESIMGO_FIRST_USE_SECONDS = 60
    settings.SANDBOX_ESIMGO_DEPLETION_SECONDS = 3600
    iccid = api.buy()["order"][0]["iccids"][0]

    def assignment():
        bundles = api.get(f"/esims/{iccid}/bundles", data={"includeUsed": "true"}).json()["bundles"]
        assert [b["name"] for b in bundles] == ["esim_1GB_7D_MN_V2"]
        return bundles[0]["assignments"][0]

    queued = assignment()
    assert queued["bundleState"] == "queued" and queued["remainingQuantity"] == queued["initialQuantity"] == 10**9
    assert "startTime" not in queued and queued["callTypeGroup"] == "data"
    _age(iccid, 60 + 900)  # 15 minutes of use
    first = assignment()
    _age(iccid, 900)
    second = assignment()
    assert first["bundleState"] == second["bundleState"] == "active"
    assert 10**9 > first["remainingQuantity"] > second["remainingQuantity"] > 0
    assert first["startTime"].endswith("Z") and first["endTime"].endswith("Z")
    assert api.get(f"/esims/{iccid}").json()["profileStatus"] == "Installed"
    _age(iccid, 3600)
    assert assignment()["bundleState"] == "depleted" and assignment()["remainingQuantity"] == 0
    assert api.get(f"/esims/{iccid}/bundles").json()["bundles"] == []  # used bundles hidden by default
    _age(iccid, 7 * 86400)
    assert assignment()["bundleState"] == "expired"
    latest = api.get(f"/esims/{iccid}/bundles/esim_1GB_7D_MN_V2").json()
    assert latest["assignments"][0]["bundleState"] == "expired"
    assert api.get(f"/esims/{iccid}/bundles/esim_3GB_30D_MN_V2").status_code == 404


def test_usage_is_a_deterministic_function_of_time(settings):
    settings.SANDBOX_ESIMGO_FIRST_USE_SECONDS = 60
    settings.SANDBOX_ESIMGO_DEPLETION_SECONDS = 1000
    t0 = timezone.now()
    a = SandboxAssignment(
        initial_quantity=10**9,
        unlimited=False,
        duration_days=7,
        assigned_at=t0,
        first_used_at=t0 + timedelta(seconds=60),
        price=Decimal("1"),
    )
    at = lambda s: usage.status(a, t0 + timedelta(seconds=s))  # noqa: E731
    assert at(30)["bundleState"] == "queued"
    assert at(60 + 250) == at(60 + 250)
    assert at(60 + 250)["remainingQuantity"] == 750_000_000
    assert at(60 + 1000)["bundleState"] == "depleted"
    assert at(60 + 7 * 86400)["bundleState"] == "expired"
    a.unlimited = True
    assert at(60 + 500)["bundleState"] == "active" and at(60 + 5000)["remainingQuantity"] == 100_000_000


def test_compatibility_rule(api):
    iccid = api.buy("esim_1GB_7D_MN_V2")["order"][0]["iccids"][0]

    def compatible(bundle):
        response = api.get(f"/esims/{iccid}/compatible/{bundle}")
        assert response.status_code == 200
        return response.json()["compatible"]

    assert compatible("esim_3GB_30D_MN_V2") is True  # same country
    assert compatible("esim_1GB_7D_RAS_V2") is True  # Asia regional roams in MN
    assert compatible("esim_1GB_7D_FR_V2") is False  # no shared country
    assert compatible("esim_1GB_7D_RGBS_V2") is False  # global bundles are another provider family
    assert api.get(f"/esims/{iccid}/compatible/esim_nope").status_code == 404


def test_top_up_onto_same_esim_and_reassign(api):
    first = api.buy("esim_1GB_7D_MN_V2")
    iccid = first["order"][0]["iccids"][0]
    top_up = api.buy("esim_3GB_30D_MN_V2", iccids=[iccid], allowReassign=False)
    assert top_up["order"][0]["iccids"] == [iccid]
    assert SandboxAssignment.objects.filter(esim__iccid=iccid).count() == 2
    later = SandboxAssignment.objects.get(esim__iccid=iccid, bundle_name="esim_3GB_30D_MN_V2")
    earlier = SandboxAssignment.objects.get(esim__iccid=iccid, bundle_name="esim_1GB_7D_MN_V2")
    assert later.first_used_at >= usage.ends_at(earlier)  # the top-up waits for the first bundle
    refused = api.post("/orders", order_body("esim_1GB_7D_FR_V2", iccids=[iccid], allowReassign=False))
    assert refused.status_code == 400 and "not compatible" in refused.json()["message"]
    moved = api.buy("esim_1GB_7D_FR_V2", iccids=[iccid], allowReassign=True)
    assert moved["order"][0]["iccids"] != [iccid]


def test_revoke_validate_then_transaction_with_refund(api):
    data = api.buy()
    iccid = data["order"][0]["iccids"][0]
    price = get_catalogue().by_name["esim_1GB_7D_MN_V2"]["price"]
    after_purchase = Organisation.current().balance
    path = f"/esims/{iccid}/bundles/esim_1GB_7D_MN_V2"
    check = api.delete(f"{path}?type=validate&refundToBalance=true")
    assert check.status_code == 200 and Organisation.current().balance == after_purchase
    assert SandboxAssignment.objects.get(esim__iccid=iccid).revoked_at is None
    offer_id = check.json()["offerId"]
    # eSIM Go: offerId is "needed for refunding to balance" (docs/providers/esimgo.md, Refunds).
    refused = api.delete(f"{path}?type=transaction&refundToBalance=true")
    assert refused.status_code == 400 and "offerId" in refused.json()["message"]
    assert api.delete(f"{path}?type=transaction&refundToBalance=true&offerId=other").status_code == 400
    assert SandboxAssignment.objects.get(esim__iccid=iccid).revoked_at is None
    done = api.delete(f"{path}?type=transaction&refundToBalance=true&offerId={offer_id}")
    assert done.json() == {"status": "Successfully Revoked Bundle, bundle has been refunded to balance"}
    assert Organisation.current().balance == after_purchase + price
    state = api.get(path).json()["assignments"][0]["bundleState"]
    assert state == "revoked"
    assert api.delete(f"{path}?type=transaction").status_code == 400  # nothing unused left
    assert api.delete(f"{path}?type=maybe").status_code == 400


def test_used_bundle_cannot_be_revoked(api):
    iccid = api.buy()["order"][0]["iccids"][0]
    _age(iccid, 3600)
    assert api.delete(f"/esims/{iccid}/bundles/esim_1GB_7D_MN_V2").status_code == 400


def test_organisation_shape(api):
    org = api.get("/organisation").json()
    assert set(org) == {"organisations"}
    assert org["organisations"][0]["currency"] == "USD"
    assert Decimal(str(org["organisations"][0]["balance"])) == Organisation.current().balance


# --- fault injection ---------------------------------------------------------------------------


def test_fault_injection_counts_down_and_targets_one_endpoint(api):
    faults.inject("POST orders", status=503, count=2, headers={"Retry-After": "1"})
    assert api.get("/catalogue", data={"perPage": 1}).status_code == 200
    first = api.post("/orders", order_body())
    assert first.status_code == 503 and first["Retry-After"] == "1"
    assert api.post("/orders", order_body()).status_code == 503
    assert SandboxOrder.objects.count() == 0
    assert api.post("/orders", order_body()).status_code == 200


def test_fault_after_operation_simulates_a_lost_answer(api):
    faults.inject("POST orders", status=500, after=True)
    response = api.post("/orders", order_body())
    assert response.status_code == 500
    assert SandboxOrder.objects.count() == 1  # the purchase happened anyway


def test_fault_malformed_body(api):
    faults.inject("catalogue", status=200, body="<html>maintenance</html>")
    response = api.get("/catalogue")
    assert response.status_code == 200 and response.content == b"<html>maintenance</html>"
    faults.clear()
    assert api.get("/catalogue").json()["bundles"]


# --- usage callback ----------------------------------------------------------------------------


def test_usage_callback_is_signed_v3_utilisation(api, mocked_responses, settings):
    settings.ESIMGO_CALLBACK_URL = "https://shop.example.mn/esimgo/callback/"
    iccid = api.buy()["order"][0]["iccids"][0]
    mocked_responses.post("https://shop.example.mn/esimgo/callback/", json={"ok": True})
    call_command("sandbox_esimgo_usage_callback", iccid, "--percent", "80")
    request = mocked_responses.calls[0].request
    expected = base64.b64encode(
        hmac.new(settings.SANDBOX_ESIMGO_API_KEY.encode(), request.body, hashlib.sha256).digest()
    ).decode()
    assert request.headers["X-Signature-SHA256"] == expected
    payload = json.loads(request.body)
    assert payload["alertType"] == "Utilisation" and payload["iccid"] == iccid
    bundle = payload["bundle"]
    assert bundle["name"] == "esim_1GB_7D_MN_V2" and bundle["unlimited"] is False
    assert bundle["initialQuantity"] == 10**9 and bundle["remainingQuantity"] == 200_000_000
    assert bundle["id"] and bundle["reference"].startswith(api.get("/orders").json()["orders"][0]["orderReference"])
    # the bundle status endpoint now agrees with what the callback reported
    status = api.get(f"/esims/{iccid}/bundles").json()["bundles"][0]["assignments"][0]
    assert status["bundleState"] == "active" and status["remainingQuantity"] <= 200_000_000


def test_usage_callback_command_rejects_unknown_iccid():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("sandbox_esimgo_usage_callback", "000")
