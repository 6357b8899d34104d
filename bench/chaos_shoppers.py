"""The chaos run's shoppers and QPay (bench/chaos.py): purchases through the shop's API, payments
in the sandbox bank app, QPay's callbacks (scheduled, interleaved, in bursts), and the one rule
for sending a request again after a connection error.

A purchase is sent again (on a fresh connection, same Idempotency-Key and body) only when that is
provably safe: the connection was never made (the shop never saw it), or the request carries its
Idempotency-Key (the shop answers a repeat with the first request's answer, never a second
invoice). Callbacks are always sent again: QPay redelivers, and a callback is only a hint.
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

BUNDLES = {  # name -> weight; one bundle dominates so reconciliation sees look-alike orders
    "esim_1GB_7D_MN_V2": 6,
    "esim_2GB_15D_MN_V2": 2,
    "esim_3GB_30D_MN_V2": 1,
}
PAY_MODES = {"full": 45, "twice": 15, "short": 15, "none": 25}
BURST_SIZE = 50


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def weighted(rng: random.Random, table: dict) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


class Tally:
    """Thread-safe counters of everything the driver saw."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = Counter()  # (kind, status) -> n
        self.faults = Counter()
        self.notes = Counter()

    def status(self, kind: str, status) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1

    def fault(self, kind: str) -> None:
        with self.lock:
            self.faults[kind] += 1

    def note(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.notes[kind] += n


def _new_session():
    import requests

    return requests.Session()


def _always_resend_callbacks(exc) -> str:
    return "QPay delivers again; a callback is only a hint"


class Shoppers:
    """Drives `args.purchases` purchases from `args.shoppers` threads against the shop at `shop`;
    `on_halfway` is called (once) when half of them are done (the run kills a worker then).
    What each purchase got is kept in `purchases`, every callback sent in `sent_callbacks`."""

    def __init__(self, args, tally: Tally, run_id: str, shop: str = "", prices=None, on_halfway=None):
        self.args, self.tally, self.run_id = args, tally, run_id
        self.shop, self.prices, self.on_halfway = shop, prices or {}, on_halfway
        self.callback_seq = itertools.count(1)
        self.sent_callbacks = {}  # user-agent tag -> (internal invoice id, status)
        self.sent_lock = threading.Lock()
        self.purchases = {}  # index -> record dict
        self.completed = itertools.count(1)
        self.halfway_done = threading.Event()
        self.thread_local = threading.local()
        self.schedule, self.schedule_seq, self.schedule_lock = [], itertools.count(), threading.Lock()
        self.shoppers_done = threading.Event()

    # -- HTTP --

    def session(self):
        import requests

        if not hasattr(self.thread_local, "session"):
            self.thread_local.session = requests.Session()
        return self.thread_local.session

    def http(self, kind: str, method: str, url: str, session=None, resend=None, **kwargs):
        """One request; a connection error is sent again (at most twice, each time on a fresh
        connection) only when `resend(exc)` says that is safe (module docstring)."""
        import requests

        kwargs.setdefault("timeout", self.args.http_timeout)
        for _attempt in range(3):
            try:
                response = (session or self.session()).request(method, url, **kwargs)
            except requests.ConnectionError as exc:
                error = exc
                why = resend(exc) if resend is not None else ""
                if not why:
                    break
                # A kept-alive connection the server closed a moment earlier fails on reuse.
                self.tally.note(f"{kind} connection error, sent again ({why}): {str(exc)[:120]}")
                session = _new_session()
                continue
            except requests.RequestException as exc:
                error = exc
                break
            self.tally.status(kind, response.status_code)
            return response
        self.tally.status(kind, f"error:{type(error).__name__}")
        return None

    def purchase_resend(self, exc) -> str:
        """Why sending this purchase again is safe, or "" when it is not (module docstring)."""
        # Imported here: the esimshop package loads the Celery app, which picks its settings on
        # import; the driver imports it only after the run has chosen them.
        from integrations.errors import never_sent

        if never_sent(exc):
            return "never reached the shop"
        return "same Idempotency-Key" if self.args.idempotency_keys else ""

    # -- all shoppers --

    def run(self, rng: random.Random) -> None:
        """Every purchase, callbacks dispatched meanwhile; returns when every callback was sent.
        `rng` picks the purchases whose callbacks come as one burst."""
        plans = [self.plan(i) for i in range(self.args.purchases)]
        paid = [p for p in plans if p["mode"] != "none"]
        for p in rng.sample(paid, min(len(paid), max(2, self.args.purchases // 50))):
            p["burst"] = True
        dispatcher = threading.Thread(target=self.callback_dispatcher, daemon=True)
        dispatcher.start()
        with ThreadPoolExecutor(self.args.shoppers) as pool:
            for future in [pool.submit(self.shopper, plan) for plan in plans]:
                future.result()
        self.shoppers_done.set()
        dispatcher.join()

    # -- one shopper --

    def plan(self, index: int) -> dict:
        rng = random.Random(f"{self.args.seed}-{index}")
        mode = weighted(rng, PAY_MODES)
        return {
            "index": index,
            "bundle": weighted(rng, BUNDLES),
            "mode": mode,
            "callbacks": rng.randint(0, 5),
            "burst": False,
            "double_submit": rng.random() < 0.05,
            "rng": rng,
        }

    def shopper(self, plan: dict) -> None:
        index, rng = plan["index"], plan["rng"]
        record = {
            "mode": plan["mode"],
            "bundle": plan["bundle"],
            "purchase_status": None,
            "callbacks": 0,
            "payments": [],
            "burst": plan["burst"],
        }
        self.purchases[index] = record
        body = {
            "phoneNumber": f"9{index:07d}",
            "email": f"chaos{index}@example.mn",
            "amount": self.prices[plan["bundle"]],
            "packageCode": plan["bundle"],
        }
        # One key per purchase, the same on a double tap (one page, one key) and on every resend.
        headers = {"Idempotency-Key": str(uuid.uuid4())} if self.args.idempotency_keys else {}
        send = {"json": body, "headers": headers, "resend": self.purchase_resend}
        url = f"{self.shop}/api/customer/transactions/purchase"
        if plan["double_submit"]:
            # The shopper taps "buy" twice: two concurrent requests for the same purchase.
            with ThreadPoolExecutor(2) as pool:
                replies = list(
                    pool.map(lambda _: self.http("purchase", "POST", url, session=_new_session(), **send), range(2))
                )
            ok = [r for r in replies if r is not None and r.status_code == 201]
            response = ok[0] if ok else next((r for r in replies if r is not None), None)
            if len(ok) == 2 and ok[0].json()["internalInvoiceId"] != ok[1].json()["internalInvoiceId"]:
                self.tally.note("double_submit_two_invoices")
        else:
            response = self.http("purchase", "POST", url, **send)
        record["purchase_status"] = response.status_code if response is not None else "error"
        if response is None or response.status_code != 201:
            self._progress()
            return
        purchase = response.json()
        record["invoice"] = purchase["internalInvoiceId"]
        record["qpay_invoice"] = purchase["invoice_id"]
        bank_url = purchase["qr_link"]
        if plan["mode"] != "none":
            payments = 2 if plan["mode"] == "twice" else 1
            action = "short" if plan["mode"] == "short" else "full"
            for _ in range(payments):
                payment_id = self.pay(bank_url, action)
                if payment_id:
                    record["payments"].append(payment_id)
        callback_url = self.stored_callback_url(purchase["invoice_id"])
        payment_ids = record["payments"] or [str(rng.randint(10**14, 10**15 - 1))]  # unpaid: QPay-shaped id
        if plan["burst"]:
            self.burst(callback_url, record, payment_ids)
        else:
            for _ in range(plan["callbacks"]):
                self.schedule_callback(
                    rng.uniform(0, self.args.callback_spread), callback_url, record, rng.choice(payment_ids), rng
                )
        self._progress()

    def _progress(self) -> None:
        done = next(self.completed)
        if done == self.args.purchases // 2 and not self.halfway_done.is_set():
            self.halfway_done.set()
            if self.on_halfway is not None:
                threading.Thread(target=self.on_halfway, daemon=True).start()
        if done % max(1, self.args.purchases // 10) == 0:
            log(f"{done}/{self.args.purchases} purchases driven")

    def pay(self, bank_url: str, action: str) -> str | None:
        session = _new_session()
        page = self.http("bank_page", "GET", bank_url, session=session)
        if page is None or page.status_code != 200:
            return None
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not token:
            self.tally.note("bank_page_without_csrf_token")
            return None
        reply = self.http(
            "bank_pay",
            "POST",
            bank_url,
            session=session,
            headers={"Referer": bank_url},
            data={"csrfmiddlewaretoken": token.group(1), "action": action, "payment_type": "P2P"},
        )
        if reply is None or reply.status_code != 200:
            return None
        match = re.search(r"[?&]paid=([^&]+)", reply.url)
        if not match:
            self.tally.note("bank_pay_without_payment_id")
        return match.group(1) if match else None

    def stored_callback_url(self, qpay_invoice_id: str) -> str:
        from django.db import connection

        from sandbox.qpay.models import SandboxInvoice

        try:
            return SandboxInvoice.objects.get(pk=qpay_invoice_id).callback_url
        finally:
            connection.close()

    # -- callbacks --

    def callback_request(self, url: str, record: dict, payment_id: str, rng: random.Random, session=None):
        tag = f"chaos-callback/{self.run_id}/{next(self.callback_seq)}"
        full = f"{url}{'&' if '?' in url else '?'}qpay_payment_id={payment_id}"
        method = "POST" if rng.random() < 0.1 else "GET"
        kwargs = {"headers": {"User-Agent": tag}}
        if method == "POST":
            kwargs["json"] = {"payment_id": payment_id, "note": "QPay sends GET; POST is accepted too"}
        response = self.http("callback", method, full, session=session, resend=_always_resend_callbacks, **kwargs)
        status = response.status_code if response is not None else "error"
        with self.sent_lock:
            self.sent_callbacks[tag] = (record.get("invoice"), status)
            record["callbacks"] += 1
        if response is not None and response.status_code == 200:
            self.tally.note(f"callback_outcome:{response.headers.get('X-Callback-Outcome', '?')}")

    def schedule_callback(self, delay, url, record, payment_id, rng) -> None:
        with self.schedule_lock:
            heapq.heappush(
                self.schedule, (time.monotonic() + delay, next(self.schedule_seq), (url, record, payment_id, rng))
            )

    def callback_dispatcher(self) -> None:
        """Sends scheduled callbacks when due: interleaved across invoices and out of order."""
        with ThreadPoolExecutor(self.args.callback_threads) as pool:
            while True:
                with self.schedule_lock:
                    due = self.schedule and self.schedule[0][0] <= time.monotonic()
                    item = heapq.heappop(self.schedule)[2] if due else None
                    finished = not self.schedule and self.shoppers_done.is_set()
                if item is not None:
                    url, record, payment_id, rng = item
                    pool.submit(self.callback_request, url, record, payment_id, rng)
                elif finished:
                    break
                else:
                    time.sleep(0.01)

    def burst(self, url: str, record: dict, payment_ids: list) -> None:
        """BURST_SIZE callbacks for one invoice released at the same instant."""
        barrier = threading.Barrier(BURST_SIZE)
        rng = random.Random(record.get("invoice"))
        ids = [rng.choice(payment_ids) for _ in range(BURST_SIZE)]

        def fire(payment_id):
            session = _new_session()
            barrier.wait(30)
            self.callback_request(url, record, payment_id, random.Random(payment_id), session=session)

        with ThreadPoolExecutor(BURST_SIZE) as pool:
            list(pool.map(fire, ids))
        self.tally.note("bursts")
