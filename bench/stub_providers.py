"""Providers at zero latency: an in-process `requests` transport standing in for QPay and eSIM Go.

Installed by bench/bench_settings.py when BENCH_STUB_PROVIDERS=1: every requests.Session created
in the process gets this adapter mounted at the configured QPAY_BASE_URL and ESIMGO_BASE_URL (the
real base URLs in the benches), so the shop's own clients (payments/qpay.py, catalog/esimgo.py)
run unchanged - URL building, JSON encoding, response parsing, error classification - and only
the network and the provider's own work are gone. Nothing can leave the machine through it.

Answers are canned, real-shaped responses (docs/providers/qpay.md, esimgo.md):
  QPay     POST /v2/auth/token      token pair, `expires_in` an absolute unix time
           POST /v2/invoice         invoice_id, qr_text, qr_image (a real ~1 KB QR PNG, base64),
                                    qPay_shortUrl, urls (10 bank deep links)
           POST /v2/payment/check   one PAID P2P row covering the invoice: every invoice is paid
                                    (the amount is carried in the stub's invoice id, so any
                                    process can answer for an invoice another process created)
           DELETE /v2/invoice/<id>  {}
  eSIM Go  POST /orders (validate)  the order summary with the bundle's sandbox catalogue price
           POST /orders (transaction) a completed order carrying its eSIM (iccid, matchingId, smdpAddress)
           PUT /esims               {"status": "success"} (the customerRef tag)
Anything else answers 501, so a bench that strays from these paths fails loudly.

Real provider latency (bench/capacity.py): BENCH_PROVIDER_LATENCY_MS makes every answer take that
long (time.sleep, so the calling thread waits as on a socket and gives up the GIL), and
BENCH_QPAY_CHECK_LATENCY_MS overrides it for QPay's payment/check. With BENCH_COUNT_REDIS_URL and
BENCH_COUNT_KEY every call is counted in a Redis hash ("esimgo POST orders:transaction" -> n),
so calls made in any process (gunicorn, Celery) can be added up afterwards.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
import uuid
from functools import cache, lru_cache
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

_installed = False


def invoice_id_for(amount: int) -> str:
    """A fresh UUID whose last 48 bits are the amount (how payment/check knows what was due)."""
    return str(uuid.UUID(hex=uuid.uuid4().hex[:20] + f"{amount:012x}"))


def amount_of(invoice_id: str) -> int:
    try:
        return int(uuid.UUID(invoice_id).hex[-12:], 16)
    except ValueError:
        return 0


def payment_id_for(invoice_id: str) -> str:
    """The P2P payment id (15 digits) payment/check reports for this invoice: the same every time."""
    return str(10**14 + int(hashlib.sha256(invoice_id.encode()).hexdigest()[:12], 16) % (9 * 10**14))


@lru_cache(maxsize=1)
def _qr_image() -> str:
    from sandbox.qpay.services import qr_png_base64  # at call time: Django apps are ready then

    return qr_png_base64("0002010102122650" + "0" * 120)


@lru_cache(maxsize=1)
def _banks() -> tuple:
    from sandbox.qpay.services import BANKS

    return tuple((name, description, scheme) for name, description, scheme in BANKS)


@cache
def _esimgo_price(bundle_name: str):
    from sandbox.esimgo.catalogue import get_catalogue

    bundle = get_catalogue().by_name.get(bundle_name)
    return None if bundle is None else float(bundle["price"])


def _qpay(method: str, path: str, body: dict):
    if method == "POST" and path == "auth/token":
        expires = int(time.time()) + 86400
        return 200, {
            "token_type": "bearer",
            "refresh_expires_in": expires,
            "refresh_token": "stub-refresh",
            "access_token": "stub-access-" + uuid.uuid4().hex,
            "expires_in": expires,
            "scope": "get_token",
            "not-before-policy": "0",
            "session_state": "stub",
        }
    if method == "POST" and path == "invoice":
        invoice_id = invoice_id_for(int(body.get("amount") or 0))
        qr_text = "0002010102122650" + uuid.UUID(invoice_id).hex + "5204481453034965802MN6304ABCD"
        return 200, {
            "invoice_id": invoice_id,
            "qr_text": qr_text,
            "qr_image": _qr_image(),
            "qPay_shortUrl": f"https://s.qpay.mn/{invoice_id[:8]}",
            "urls": [
                {
                    "name": name,
                    "description": description,
                    "logo": f"https://qpay.mn/q/logo/{scheme}.png",
                    "link": f"{scheme}://q?qPay_QRcode={qr_text}",
                }
                for name, description, scheme in _banks()
            ],
        }
    if method == "POST" and path == "payment/check":
        invoice_id = str(body.get("object_id") or "")
        amount = amount_of(invoice_id)
        payment_id = payment_id_for(invoice_id)
        return 200, {
            "count": 1,
            "paid_amount": amount,
            "rows": [
                {
                    "payment_id": payment_id,
                    "payment_status": "PAID",
                    "payment_amount": f"{amount}.00",
                    "trx_fee": "0.00",
                    "payment_currency": "MNT",
                    "payment_wallet": "0fc9b71c-cd87-4ffd-9cac-2279ebd9deb0",
                    "payment_type": "P2P",
                    "next_payment_date": None,
                    "next_payment_datetime": None,
                    "card_transactions": [],
                    "p2p_transactions": [
                        {
                            "transaction_bank_code": "050000",
                            "account_bank_code": "050000",
                            "account_bank_name": "Хаан банк",
                            "account_number": "50******12",
                            "status": "SUCCESS",
                            "amount": f"{amount}.00",
                            "currency": "MNT",
                            "settlement_status": "SETTLED",
                        }
                    ],
                }
            ],
        }
    if method == "DELETE" and path.startswith("invoice/"):
        return 200, {}
    return 501, {"error": "NOT_STUBBED", "message": f"{method} /v2/{path} is not stubbed"}


_iccids = itertools.count(int(time.time() * 1000) % 10**9 * 1000)


def _esimgo_transaction(lines):
    item = str(lines[0].get("item"))
    price = _esimgo_price(item)
    if price is None:
        return 400, {"message": "Bundle not found"}
    iccid = f"8944{os.getpid() % 10**5:05d}{next(_iccids) % 10**10:010d}"
    matching_id = uuid.uuid4().hex[:25].upper()
    return 200, {
        "order": [
            {
                "type": "bundle",
                "item": item,
                "quantity": 1,
                "subTotal": price,
                "pricePerUnit": price,
                "AllowReassign": False,
                "iccids": [iccid],
                "esims": [{"iccid": iccid, "matchingId": matching_id, "smdpAddress": "rsp.stub-smdp.io"}],
            }
        ],
        "total": price,
        "currency": "USD",
        "status": "completed",
        "statusMessage": "Order completed: 1 eSIMs assigned",
        "orderReference": str(uuid.uuid4()),
        "createdDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "assigned": True,
    }


def _esimgo(method: str, path: str, body: dict):
    if method == "POST" and path == "orders" and body.get("type") == "transaction":
        return _esimgo_transaction(body.get("order") or [{}])
    if method == "PUT" and path == "esims":
        return 200, {"status": "success"}
    if method == "POST" and path == "orders" and body.get("type") == "validate":
        lines = body.get("order") or [{}]
        price = _esimgo_price(str(lines[0].get("item")))
        if price is None:
            return 400, {"message": "Bundle not found"}
        return 200, {
            "order": [
                {
                    "type": "bundle",
                    "item": lines[0]["item"],
                    "quantity": 1,
                    "subTotal": price,
                    "pricePerUnit": price,
                    "AllowReassign": False,
                }
            ],
            "total": price,
            "valid": True,
            "currency": "USD",
            "createdDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "assigned": True,
        }
    return 501, {"message": f"{method} /{path} is not stubbed"}


def _latency_seconds(name: str, path: str) -> float:
    if name == "qpay" and path == "payment/check" and os.environ.get("BENCH_QPAY_CHECK_LATENCY_MS"):
        return float(os.environ["BENCH_QPAY_CHECK_LATENCY_MS"]) / 1000
    return float(os.environ.get("BENCH_PROVIDER_LATENCY_MS") or 0) / 1000


class _Counter:
    """Counts calls per provider/method/path in a Redis hash shared by every process of the run."""

    def __init__(self):
        url, self.key = os.environ.get("BENCH_COUNT_REDIS_URL"), os.environ.get("BENCH_COUNT_KEY")
        self.client = None
        if url and self.key:
            import redis

            self.client = redis.Redis.from_url(url)

    def count(self, name, method, path, body):
        if self.client is not None:
            kind = f":{body.get('type')}" if name == "esimgo" and path == "orders" and method == "POST" else ""
            self.client.hincrby(self.key, f"{name} {method} {path.split('/')[0]}{kind}", 1)


class StubAdapter(BaseAdapter):
    def __init__(self, base_url: str, handler, counter=None):
        super().__init__()
        self.base_path = urlsplit(base_url).path.rstrip("/")
        self.handler = handler
        self.name = "qpay" if handler is _qpay else "esimgo"
        self.counter = counter

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        path = urlsplit(request.url).path[len(self.base_path) :].strip("/")
        if self.handler is _qpay and path.startswith("v2/"):
            path = path[3:]
        raw = request.body or b"{}"
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        delay = _latency_seconds(self.name, path)
        if delay:
            time.sleep(delay)
        if self.counter is not None:
            self.counter.count(self.name, request.method, path, body)
        status, payload = self.handler(request.method, path, body)
        response = requests.Response()
        response.status_code = status
        response.reason = "OK" if status < 400 else "Error"
        response._content = json.dumps(payload).encode()
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def install(*, qpay_base_url: str, esimgo_base_url: str) -> None:
    """Mount the stubs on every requests.Session this process creates from now on."""
    global _installed
    if _installed:
        return
    _installed = True
    counter = _Counter()
    qpay = StubAdapter(qpay_base_url, _qpay, counter)
    esimgo = StubAdapter(esimgo_base_url, _esimgo, counter)
    original_init = requests.Session.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.mount(qpay_base_url.rstrip("/") + "/", qpay)
        self.mount(esimgo_base_url.rstrip("/") + "/", esimgo)

    requests.Session.__init__ = init
