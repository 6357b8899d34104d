"""eSIM Go wire-format payloads for `responses` mocks (shapes from docs/providers/esimgo.md)."""

import json
import re
import uuid

from tests.conftest import ESIMGO_TEST_BASE_URL as BASE

ORDERS_URL = f"{BASE}/orders"
ASSIGNMENTS_URL = f"{BASE}/esims/assignments"
ESIMS_URL = f"{BASE}/esims"
ORDERS_LIST_RE = re.compile(re.escape(f"{BASE}/orders") + r"\?.*")


def transaction_response(
    bundle_name,
    *,
    iccid="8944000000000000001",
    matching_id="K2-ABC-123",
    smdp="rsp.example-smdp.io",
    reference=None,
    with_esims=True,
    created="2026-11-23T10:00:00.123456789Z",
):
    line = {
        "type": "bundle",
        "item": bundle_name,
        "quantity": 1,
        "subTotal": 4.5,
        "pricePerUnit": 4.5,
        "AllowReassign": False,
        "iccids": [iccid],
    }
    if with_esims:
        line["esims"] = [{"iccid": iccid, "matchingId": matching_id, "smdpAddress": smdp}]
    return {
        "order": [line],
        "total": 4.5,
        "currency": "USD",
        "status": "completed",
        "statusMessage": "Order completed: 1 eSIMs assigned",
        "orderReference": reference or str(uuid.uuid4()),
        "createdDate": created,
        "assigned": True,
    }


def assignment(iccid, matching_id="K2-ABC-123", smdp="rsp.example-smdp.io"):
    return {"iccid": iccid, "matchingId": matching_id, "smdpAddress": smdp, "profileStatus": "Released"}


def purchase_bodies(rsps):
    """JSON bodies of every POST /orders with type transaction seen by the mock."""
    bodies = []
    for call in rsps.calls:
        if call.request.method == "POST" and call.request.url.startswith(ORDERS_URL):
            body = json.loads(call.request.body)
            if body.get("type") == "transaction":
                bodies.append(body)
    return bodies


def esim_bundles(name, *, initial=1_000_000_000, remaining=400_000_000, state="active", end="2026-12-01T00:00:00Z"):
    return {
        "bundles": [
            {
                "name": name,
                "description": "eSIM, 1GB, 7 Days",
                "assignments": [
                    {
                        "id": "assign-1",
                        "callTypeGroup": "data",
                        "initialQuantity": initial,
                        "remainingQuantity": remaining,
                        "assignmentDateTime": "2026-11-20T00:00:00Z",
                        "assignmentReference": "ref-0",
                        "bundleState": state,
                        "unlimited": False,
                        "startTime": "2026-11-21T00:00:00Z",
                        "endTime": end,
                    }
                ],
            }
        ]
    }
