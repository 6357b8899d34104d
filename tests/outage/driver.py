"""The outage suite's shoppers and QPay: purchases through the API, payments in the sandbox
bank app, QPay's callbacks sent to the stored callback URL (re-sent on 503 and connection errors,
as a sender that wants a 200 does), and what every answer was."""

import itertools
import re
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import psycopg
import requests


class Driver:
    def __init__(self, shop_url: str, shop_db: str, providers_db: str, prices: dict, run_id: str):
        self.shop_url, self.shop_db, self.providers_db = shop_url, shop_db, providers_db
        self.prices, self.run_id = prices, run_id
        self.lock = threading.Lock()
        self.statuses = Counter()  # (kind, status) -> n
        self.sent_callbacks = {}  # user-agent tag -> final status of that request
        self.invoices = {}  # internal invoice id -> {"paid": bool, "phase": str, "paid_at": monotonic}
        self.seq = itertools.count(1)

    def _status(self, kind, status) -> None:
        with self.lock:
            self.statuses[(kind, str(status))] += 1

    def query(self, database: str, sql: str, *params):
        with psycopg.connect(database, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def purchase(self, phase: str, bundle: str, retry_until: float = 0):
        """POST the purchase; 503 (infrastructure or provider down) is retried until `retry_until`."""
        index = next(self.seq)
        body = {
            "phoneNumber": f"8{index:07d}",
            "email": f"outage{index}@example.mn",
            "amount": self.prices[bundle],
            "packageCode": bundle,
        }
        while True:
            try:
                response = requests.post(f"{self.shop_url}/api/customer/transactions/purchase", json=body, timeout=30)
                status = response.status_code
            except requests.RequestException as exc:
                response, status = None, f"error:{type(exc).__name__}"
            self._status("purchase", status)
            if status == 201:
                data = response.json()
                self.invoices[data["internalInvoiceId"]] = {
                    "paid": False,
                    "phase": phase,
                    "bank": data["qr_link"],
                    "qpay": data["invoice_id"],
                    # The capability URLs the shopper is given (the id alone opens nothing).
                    "status_path": urlsplit(data["statusUrl"])._replace(scheme="", netloc="").geturl(),
                    "pay_path": urlsplit(data["paymentUrl"]).path,
                }
                return data["internalInvoiceId"]
            if time.monotonic() >= retry_until:
                return None
            time.sleep(0.5)

    def pay(self, invoice_id: str) -> str | None:
        """Pay in full in the sandbox bank app; returns QPay's payment id."""
        record = self.invoices[invoice_id]
        session = requests.Session()
        page = session.get(record["bank"], timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        reply = session.post(
            record["bank"],
            headers={"Referer": record["bank"]},
            timeout=30,
            data={"csrfmiddlewaretoken": token.group(1), "action": "full", "payment_type": "P2P"},
        )
        match = re.search(r"[?&]paid=([^&]+)", reply.url)
        assert reply.status_code == 200 and match, (reply.status_code, reply.url)
        record.update(paid=True, paid_at=time.monotonic(), payment_id=match.group(1))
        return match.group(1)

    def callback_url(self, invoice_id: str) -> str:
        rows = self.query(
            self.providers_db,
            "SELECT callback_url FROM sandbox_qpay_sandboxinvoice WHERE invoice_id = %s",
            self.invoices[invoice_id]["qpay"],
        )
        return rows[0][0]

    def callback(self, invoice_id: str, deadline: float) -> int | str:
        """Deliver QPay's callback; each request has its own tag; re-sent until a non-503 answer."""
        record = self.invoices[invoice_id]
        url = f"{self.callback_url(invoice_id)}&qpay_payment_id={record.get('payment_id', '1')}"
        while True:
            tag = f"outage-callback/{self.run_id}/{next(self.seq)}"
            try:
                status = requests.get(url, headers={"User-Agent": tag}, timeout=30).status_code
            except requests.RequestException as exc:
                status = f"error:{type(exc).__name__}"
            self._status("callback", status)
            with self.lock:
                self.sent_callbacks[tag] = status
            if status not in (503, 502) and not str(status).startswith("error") or time.monotonic() > deadline:
                return status
            time.sleep(0.5)

    def poll_pages(self, invoice_id: str) -> None:
        """The shopper's payment page and status API (must never be a 500)."""
        record = self.invoices[invoice_id]
        for path in (record["status_path"], record["pay_path"], "/"):
            try:
                status = requests.get(f"{self.shop_url}{path}", timeout=30, allow_redirects=False).status_code
            except requests.RequestException as exc:
                status = f"error:{type(exc).__name__}"
            self._status("page", status)
