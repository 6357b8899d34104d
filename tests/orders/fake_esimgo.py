"""A stateful eSIM Go stand-in on top of `responses`, speaking the v2.4 wire format.

Unlike fixed mocks it remembers orders, so tests can ask "how many eSIMs did eSIM Go really
sell?" and reconciliation can find an order by GET /orders?createdAt=gte:...
Failure modes are switched per test: `fake.purchase_failures` is a list consumed one per
purchase: "timeout_after" (eSIM Go creates the order, the answer is lost), "timeout" (nothing
created), an int HTTP status (nothing created), or a callable run after the order is created.
"""

import itertools
import json
import re
import threading
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import ESIMGO_TEST_BASE_URL as BASE


def _now_text():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # nanoseconds like eSIM Go


def _parse(text):
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return datetime.fromisoformat(text)


class FakeESIMGo:
    def __init__(self, rsps, *, api_key="test-esimgo-key"):
        self.rsps = rsps
        self.api_key = api_key
        self.lock = threading.Lock()
        self.orders = []  # dicts as GET /orders returns them
        self.esims = {}  # iccid -> {matchingId, smdpAddress, customerRef, bundles: [..]}
        self.purchase_failures = []
        self.before_purchase = None  # callable run (outside the lock) before a purchase is handled
        self.purchase_calls = 0
        self.omit_esims_in_response = False
        self.incompatible = set()  # bundle names eSIM Go says do not fit existing eSIMs
        self.bundles_status = 200
        self.unknown_bundles = set()
        self.validate_status = 200  # e.g. 400 (refused) or 503 (down) for POST /orders type validate
        self.validate_bodies = []
        self._iccids = itertools.count(8944500000000000001)
        rsps.add_callback("POST", f"{BASE}/orders", callback=self._post_order)
        rsps.add_callback("GET", re.compile(re.escape(f"{BASE}/orders") + r"(\?.*)?$"), callback=self._list_orders)
        rsps.add_callback("GET", re.compile(re.escape(f"{BASE}/orders/") + r"[^/?]+$"), callback=self._get_order)
        rsps.add_callback(
            "GET", re.compile(re.escape(f"{BASE}/esims/assignments") + r"(\?.*)?$"), callback=self._assignments
        )
        rsps.add_callback("PUT", f"{BASE}/esims", callback=self._put_esim)
        rsps.add_callback(
            "GET", re.compile(re.escape(f"{BASE}/esims/") + r"\d+/bundles(\?.*)?$"), callback=self._bundles
        )
        rsps.add_callback(
            "GET", re.compile(re.escape(f"{BASE}/esims/") + r"\d+/compatible/[^/?]+$"), callback=self._compatible
        )

    # --- helpers for tests ---------------------------------------------------------------

    @property
    def sold(self):
        """Completed eSIM Go orders (what we paid eSIM Go for)."""
        return [o for o in self.orders if o["status"] == "completed"]

    def _check_key(self, request):
        if request.headers.get("X-API-Key") != self.api_key:
            return (403, {}, json.dumps({"message": "access denied"}))
        return None

    # --- endpoints -----------------------------------------------------------------------

    def _post_order(self, request):
        denied = self._check_key(request)
        if denied:
            return denied
        body = json.loads(request.body)
        if body.get("type") == "validate":
            self.validate_bodies.append(body)
            if self.validate_status != 200:
                return (
                    self.validate_status,
                    {},
                    json.dumps({"message": "Bundle not found" if self.validate_status < 500 else "down"}),
                )
            line = body["order"][0]
            return (
                200,
                {},
                json.dumps(
                    {
                        "order": [{**line, "subTotal": 4.5, "pricePerUnit": 4.5}],
                        "total": 4.5,
                        "valid": line["item"] not in self.unknown_bundles,
                        "currency": "USD",
                        "createdDate": _now_text(),
                        "assigned": False,
                    }
                ),
            )
        if self.before_purchase:
            self.before_purchase()
        with self.lock:
            self.purchase_calls += 1
            failure = self.purchase_failures.pop(0) if self.purchase_failures else None
            if failure == "timeout":
                raise requests.exceptions.ReadTimeout("read timed out")
            if isinstance(failure, int):
                messages = {
                    400: "Bundle not found",
                    403: "Insufficient balance",
                    429: "Rate limit exceeded",
                    500: "internal error",
                    503: "Processing",
                }
                headers = {"Retry-After": "7"} if failure in (429, 503) else {}
                return (failure, headers, json.dumps({"message": messages.get(failure, "error")}))
            line = body["order"][0]
            assert body["type"] == "transaction" and body["assign"] is True, body
            assert line["type"] == "bundle" and line["quantity"] == 1, line
            if line["item"] in self.unknown_bundles:
                return (400, {}, json.dumps({"message": "Bundle not found"}))
            if line.get("iccids"):
                iccid = line["iccids"][0]
                if iccid not in self.esims or line["item"] in self.incompatible:
                    return (400, {}, json.dumps({"message": "Bundle is not compatible with eSIM"}))
            else:
                iccid = str(next(self._iccids))
                self.esims[iccid] = {
                    "matchingId": f"M-{uuid.uuid4().hex[:10].upper()}",
                    "smdpAddress": "rsp.fake-smdp.io",
                    "customerRef": "",
                    "bundles": [],
                }
            self.esims[iccid]["bundles"].append(line["item"])
            esim = self.esims[iccid]
            order = {
                "order": [
                    {
                        "type": "bundle",
                        "item": line["item"],
                        "quantity": 1,
                        "subTotal": 4.5,
                        "pricePerUnit": 4.5,
                        "AllowReassign": line.get("allowReassign", False),
                        "iccids": [iccid],
                        "esims": [
                            {"iccid": iccid, "matchingId": esim["matchingId"], "smdpAddress": esim["smdpAddress"]}
                        ],
                    }
                ],
                "total": 4.5,
                "currency": "USD",
                "status": "completed",
                "statusMessage": "Order completed: 1 eSIMs assigned",
                "orderReference": str(uuid.uuid4()),
                "createdDate": _now_text(),
                "assigned": True,
            }
            self.orders.append(order)
        if failure == "timeout_after":
            raise requests.exceptions.ReadTimeout("read timed out (order was created)")
        if callable(failure):
            failure()
        answer = json.loads(json.dumps(order))
        if self.omit_esims_in_response:
            for item in answer["order"]:
                item.pop("esims", None)
        return (200, {}, json.dumps(answer))

    def _list_orders(self, request):
        denied = self._check_key(request)
        if denied:
            return denied
        query = parse_qs(urlsplit(request.url).query)
        selected = list(self.orders)
        for condition in query.get("createdAt", []):
            operator, _, value = condition.partition(":")
            bound = _parse(value)
            if operator == "gte":
                selected = [o for o in selected if _parse(o["createdDate"]) >= bound]
            elif operator == "lte":
                selected = [o for o in selected if _parse(o["createdDate"]) <= bound]
        return (200, {}, json.dumps({"orders": selected, "rows": len(selected), "pageCount": 1}))

    def _get_order(self, request):
        reference = urlsplit(request.url).path.rsplit("/", 1)[1]
        for order in self.orders:
            if order["orderReference"] == reference:
                return (200, {}, json.dumps(order))
        return (404, {}, json.dumps({"message": "order not found"}))

    def _assignments(self, request):
        reference = parse_qs(urlsplit(request.url).query).get("reference", [""])[0]
        assert request.headers.get("Accept") == "application/json"
        for order in self.orders:
            if order["orderReference"] == reference:
                iccid = order["order"][0]["iccids"][0]
                esim = self.esims[iccid]
                return (
                    200,
                    {"Content-Type": "application/json"},
                    json.dumps(
                        {
                            "iccid": iccid,
                            "matchingId": esim["matchingId"],
                            "smdpAddress": esim["smdpAddress"],
                            "profileStatus": "Released",
                        }
                    ),
                )
        return (400, {}, json.dumps({"message": "reference not found"}))

    def _put_esim(self, request):
        body = json.loads(request.body)
        if body["iccid"] not in self.esims:
            return (400, {}, json.dumps({"message": "iccid not found"}))
        self.esims[body["iccid"]]["customerRef"] = body["customerRef"]
        return (200, {}, json.dumps({"status": "success"}))

    def _bundles(self, request):
        if self.bundles_status != 200:
            return (self.bundles_status, {}, json.dumps({"message": "unavailable"}))
        iccid = urlsplit(request.url).path.split("/")[-2]
        bundles = [
            {
                "name": name,
                "description": name,
                "assignments": [
                    {
                        "id": f"{iccid}-{index}",
                        "initialQuantity": 1_000_000_000,
                        "remainingQuantity": 250_000_000,
                        "bundleState": "active" if index == 0 else "queued",
                        "unlimited": False,
                        "startTime": "2026-11-21T00:00:00Z",
                        "endTime": "2026-11-28T00:00:00Z",
                        "assignmentDateTime": "2026-11-20T00:00:00Z",
                    }
                ],
            }
            for index, name in enumerate(self.esims.get(iccid, {}).get("bundles", []))
        ]
        return (200, {}, json.dumps({"bundles": bundles}))

    def _compatible(self, request):
        name = urlsplit(request.url).path.rsplit("/", 1)[1]
        return (200, {}, json.dumps({"compatible": name not in self.incompatible}))
