"""Payment writes: purchases, payment verification, expiry and the invoice state machine.

Invoice states and the ONLY ways between them (each recorded as an InvoiceTransition):

    open                 ""                  → PENDING    purchase started (row exists before QPay is called)
    mark_paid            PENDING             → PAID       QPay's payment/check shows PAID rows covering the amount
    accept_late_payment  EXPIRED, CANCELLED  → PAID       staff accepts money that arrived after cancel/expiry
    expire               PENDING             → EXPIRED    expiry reached; cancelled at QPay first
    cancel               PENDING             → CANCELLED  QPay unreachable at creation, superseded, or staff
    flag_for_staff       (status unchanged)               money arrived where it should not have

Concurrency: every transition happens inside transaction.atomic() on a row fetched with
select_for_update(), so of N concurrent verifications exactly one sees PENDING and wins.
QPay is never called while a row lock is held (the lock would be held for a network
round trip, and on SQLite the sandbox QPay would wait on our write lock).
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from catalog import balance
from catalog.selectors import bundle_label
from esimshop import metrics
from esimshop.logs import bind as bind_log_context
from esimshop.state_machine import IllegalTransition, apply_transition
from integrations.qpay.client import PaymentCheck, QPayClient, QPayError, QPayNotFound
from payments import schedules, signals, status_cache
from payments.models import INVOICE_TRANSITIONS, Customer, Invoice, InvoiceTransition, Payment

# The schedule's plan and sweep live in payments/schedules.py; these names stay importable here.
from payments.schedules import (  # noqa: F401
    CHECK_OFFSETS_SECONDS,
    CREATING_STALE_AFTER,
    PRE_EXPIRY_CHECK_SECONDS,
    payment_check_plan,
)

logger = logging.getLogger(__name__)

Status = Invoice.Status

# The invoice's table lives beside the model (payments.models); these names stay importable here.
TRANSITIONS = INVOICE_TRANSITIONS

# Paid within 1 MNT of the invoice counts as paid (QPay echoes "10.00"-style decimals).
AMOUNT_TOLERANCE_MNT = Decimal("1")
# A double-submit gets the open invoice back only if it is still worth paying.
REUSE_MIN_REMAINING = timedelta(minutes=3)
WAIT_FOR_CONCURRENT_CREATION_SECONDS = 30
EXPIRY_SLACK = timedelta(seconds=30)
CALLBACK_TOKEN_SALT = "payments.qpay.callback"  # a stored secret's salt: never renamed with the module


class PurchaseError(Exception):
    """A purchase the shop refuses. `field` names the API field (packageCode, amount, ...)."""

    http_status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidPurchase(PurchaseError):
    pass


class ProviderUnavailable(PurchaseError):
    http_status = 503


class PurchaseInProgress(PurchaseError):
    http_status = 409


class IdempotencyKeyReused(PurchaseError):
    """The Idempotency-Key was first used with a different request."""

    http_status = 422


class TooManyOpenInvoices(PurchaseError):
    """An open-invoice cap (per phone, e-mail, address or in total) is reached."""

    http_status = 429


@dataclass(frozen=True)
class PurchaseOwner:
    """Who may be handed an open invoice again: `key` is "s:<hash>" (a browser session) or
    "i:<hash>" (an API Idempotency-Key); `fingerprint` is the API request's hash."""

    key: str
    fingerprint: str = ""

    @property
    def is_idempotency_key(self) -> bool:
        return self.key.startswith("i:")


# --- Outcomes -------------------------------------------------------------------------------

PAID = "PAID"
DUPLICATE = "DUPLICATE"
NOT_PAID = "NOT_PAID"
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
VERIFY_FAILED = "VERIFY_FAILED"
LATE_PAYMENT = "LATE_PAYMENT"


@dataclass(frozen=True)
class Verification:
    outcome: str
    invoice: Invoice
    detail: str = ""


# --- Helpers ----------------------------------------------------------------------------------


def _now():
    return timezone.now()


def _locked(invoice_id) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice_id)


def _transition(invoice: Invoice, name: str, *, cause: str, actor: str, **changes) -> Invoice:
    """Apply a named transition (INVOICE_TRANSITIONS) to a LOCKED invoice and record it."""
    to_status = TRANSITIONS.step(name).target
    # The database schedule moves with the status: closed invoices get their late checks, a paid
    # one needs no more scheduled checks.
    if to_status in (Status.EXPIRED, Status.CANCELLED):
        changes = {**schedules.on_close(_now()), **changes}
    elif to_status == Status.PAID:
        changes = {"next_check_at": None, **changes}
    record = apply_transition(invoice, name, by=actor, reason=cause, **changes)
    status_cache.invalidate(invoice.pk)  # the shopper's next poll sees the new state
    logger.info("invoice %s %s: %s -> %s (%s; %s)", invoice.pk, name, record.from_status, to_status, actor, cause)
    return invoice


def flag_for_staff(invoice: Invoice, reason: str, *, actor: str) -> None:
    """Mark a LOCKED invoice for staff and e-mail them (once per distinct reason)."""
    if invoice.needs_staff_attention and invoice.staff_attention_reason == reason[:255]:
        return
    invoice.needs_staff_attention = True
    invoice.staff_attention_reason = reason[:255]
    invoice.save(update_fields=["needs_staff_attention", "staff_attention_reason", "updated_at"])
    InvoiceTransition.objects.create(
        invoice=invoice,
        from_status=invoice.status,
        to_status=invoice.status,
        name="flag_for_staff",
        cause=reason[:255],
        actor=actor[:150],
    )
    logger.warning("invoice %s flagged for staff: %s", invoice.pk, reason)
    subject = f"[esimshop] payment needs attention: {invoice.sender_invoice_no}"
    body = (
        f"{reason}\n\nInvoice {invoice.pk} ({invoice.sender_invoice_no}), QPay invoice {invoice.qpay_invoice_id}\n"
        f"Status {invoice.status}, amount {invoice.amount_mnt} MNT, paid {invoice.paid_amount}\n"
        f"Admin: {settings.SITE_URL}{reverse('admin:payments_invoice_change', args=[invoice.pk])}\n"
    )
    transaction.on_commit(lambda: _send_staff_alert(subject, body))


def _send_staff_alert(subject: str, body: str) -> None:
    recipients = list(getattr(settings, "STAFF_ALERT_EMAILS", []) or [])
    if not recipients:
        logger.error("no STAFF_ALERT_EMAILS configured; alert not sent: %s", subject)
        return
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:  # noqa: BLE001 - an alert must never break payment processing
        logger.exception("staff alert e-mail failed: %s", subject)


# --- Callback URL token -----------------------------------------------------------------------


def callback_token(invoice_id) -> str:
    """Unguessable per-invoice token: HMAC of the invoice id under a SECRET_KEY-derived key."""
    return salted_hmac(CALLBACK_TOKEN_SALT, str(invoice_id), algorithm="sha256").hexdigest()


def is_valid_callback_token(invoice_id, token: str | None) -> bool:
    return bool(token) and constant_time_compare(callback_token(invoice_id), token)


def callback_url(invoice: Invoice) -> str:
    path = reverse("payments:qpay-callback", args=[invoice.pk])
    return f"{settings.QPAY_CALLBACK_PUBLIC_BASE_URL}{path}?token={callback_token(invoice.pk)}"


# --- Purchase -------------------------------------------------------------------------------


def find_or_create_customer(*, phone_number: str, email: str) -> Customer:
    """By the (phone, e-mail) pair; the unique constraint settles concurrent first purchases."""
    return _customer_for(phone_number=phone_number, email=email)[0]


def _customer_for(*, phone_number: str, email: str) -> tuple[Customer, bool]:
    """(customer, created by this call)."""
    key = {"phone_number": phone_number.strip(), "email": email.strip().lower()}
    customer = Customer.objects.filter(**key).first()
    if customer is not None:
        return customer, False
    if connection.in_atomic_block:  # a caller's transaction: a savepoint keeps it usable after a collision
        return Customer.objects.get_or_create(**key)
    try:
        # In autocommit the INSERT is its own transaction and a collision spoils nothing: no
        # BEGIN/COMMIT round trips around it, as get_or_create's atomic block would send.
        return Customer.objects.create(**key), True
    except IntegrityError:  # a concurrent first purchase by the same shopper created it
        return Customer.objects.get(**key), False


def new_sender_invoice_no() -> str:
    """Our reference at QPay: random, unrelated to the invoice id or its access token (it shows in
    QPay's portal and bank statements, so it must open nothing). Letters and digits only (QPay
    forbids special characters), 36 of the 45 allowed."""
    return f"ESIM{secrets.token_hex(16).upper()}"


def start_purchase(
    *,
    phone_number: str,
    email: str,
    bundle,
    amount_mnt: int,
    description: str = "",
    topup_iccid: str = "",
    company_register: str = "",
    language: str = "mn",
    actor: str = "shopper",
    owner: PurchaseOwner | None = None,
    client_address: str | None = None,
) -> Invoice:
    """Create a QPay invoice for one bundle, or hand its owner back the one it already opened.

    An open invoice is only ever handed back to its `owner` (the browser session that created it,
    or the API caller repeating its Idempotency-Key); without an owner every call makes a new one,
    so nobody is given, shown or able to cancel someone else's invoice.
    The server decides the price: `amount_mnt` is only the client's check against it.
    Raises InvalidPurchase (400, with field), IdempotencyKeyReused (422), TooManyOpenInvoices (429),
    ProviderUnavailable (503), PurchaseInProgress (409).
    """
    # A zero price (eSIM Go sent 0, no staff override) is a catalogue fault, not a free eSIM.
    if not bundle.is_available or bundle.price_mnt <= 0:
        raise InvalidPurchase(_("This package is no longer available."), field="packageCode")
    if amount_mnt != bundle.price_mnt:
        raise InvalidPurchase(
            _("The amount does not match the current price (%(price)s₮).") % {"price": f"{bundle.price_mnt:,}"},
            field="amount",
        )
    if not balance.can_cover(bundle):
        # Our eSIM Go balance cannot pay for it: no invoice the shopper would pay for nothing.
        raise ProviderUnavailable(balance.NOT_FOR_SALE_MESSAGE)
    customer, _new_customer = _customer_for(phone_number=phone_number, email=email)
    for _attempt in range(4):
        existing = _owners_invoice(owner, customer, bundle, topup_iccid) if owner else None
        if existing is not None:
            if owner.is_idempotency_key:
                if not constant_time_compare(existing.request_fingerprint, owner.fingerprint):
                    raise IdempotencyKeyReused(_("This Idempotency-Key was already used for a different purchase."))
                if existing.qpay_invoice_id:
                    return existing
                if existing.status != Status.PENDING:
                    # The first request with this key failed before QPay made an invoice (its
                    # answer was a 503): a replay answers the same, never a 201 with no QR.
                    raise ProviderUnavailable(
                        _("The payment service is not reachable right now. Please try again in a minute.")
                    )
                _wait_or_retire(existing, actor=actor, retire=False)
                continue
            if _reusable(existing, amount_mnt):
                bind_log_context(invoice_id=existing.pk)
                logger.info("purchase double-submit: returning open invoice %s to its session", existing.pk)
                return existing
            _wait_or_retire(existing, actor=actor)
            continue
        enforce_open_invoice_caps(
            phone_number=customer.phone_number, email=customer.email, client_address=client_address
        )
        validate_with_esimgo(bundle, topup_iccid)
        invoice = _insert_invoice(
            customer=customer,
            bundle=bundle,
            amount_mnt=amount_mnt,
            description=description,
            topup_iccid=topup_iccid,
            company_register=company_register,
            language=language,
            actor=actor,
            owner=owner,
            client_address=client_address,
        )
        if invoice is None:
            continue  # the same owner's concurrent submit inserted first; the loop picks its invoice up
        bind_log_context(invoice_id=invoice.pk)
        invoice = _create_at_qpay(invoice, actor=actor)
        metrics.purchase_started()
        return invoice
    raise PurchaseInProgress(_("This purchase is already being prepared. Please try again in a moment."))


def _owners_invoice(owner: PurchaseOwner, customer, bundle, topup_iccid: str) -> Invoice | None:
    if owner.is_idempotency_key:
        return Invoice.objects.filter(owner_key=owner.key).first()
    return Invoice.objects.filter(
        owner_key=owner.key, customer=customer, bundle=bundle, topup_iccid=topup_iccid, status=Status.PENDING
    ).first()


def enforce_open_invoice_caps(*, phone_number: str, email: str, client_address: str | None) -> None:
    """Open (payable) invoices per phone, e-mail, client address and in total, in one query.
    A soft cap (counted, not locked): concurrent purchases may pass it by a few."""
    caps = {
        "phone": int(getattr(settings, "PAYMENTS_MAX_OPEN_INVOICES_PER_PHONE", 3)),
        "email": int(getattr(settings, "PAYMENTS_MAX_OPEN_INVOICES_PER_EMAIL", 3)),
        "address": int(getattr(settings, "PAYMENTS_MAX_OPEN_INVOICES_PER_ADDRESS", 10)),
        "total": int(getattr(settings, "PAYMENTS_MAX_OPEN_INVOICES_TOTAL", 1000)),
    }
    open_invoices = Invoice.objects.filter(status=Status.PENDING, expires_at__gt=_now())
    counted = {
        "total": Count("id"),
        "phone": Count("id", filter=Q(customer__phone_number=phone_number)),
        "email": Count("id", filter=Q(customer__email=email)),
    }
    if client_address:
        counted["address"] = Count("id", filter=Q(client_address=client_address))
    counts = open_invoices.aggregate(**counted)
    messages = {
        "phone": _("This phone number already has %(n)s unpaid invoices. Pay or wait for one to expire."),
        "email": _("This e-mail address already has %(n)s unpaid invoices. Pay or wait for one to expire."),
        "address": _("Too many unpaid invoices from your network (%(n)s). Pay or wait for one to expire."),
        "total": _("The shop has too many unpaid invoices right now. Please try again in a few minutes."),
    }
    for name, cap in caps.items():
        if (counts.get(name) or 0) >= cap:
            logger.warning("purchase refused: open-invoice cap per %s (%s) reached", name, cap)
            raise TooManyOpenInvoices(messages[name] % {"n": cap})


def _reusable(invoice: Invoice, amount_mnt: int) -> bool:
    return (
        invoice.is_payable and invoice.amount_mnt == amount_mnt and invoice.expires_at - _now() >= REUSE_MIN_REMAINING
    )


def _wait_or_retire(invoice: Invoice, *, actor: str, retire: bool = True) -> None:
    """The owner's open invoice we cannot hand back yet: wait for a concurrent creation, or retire
    it (only ever the caller's own invoice)."""
    if not invoice.qpay_invoice_id and _now() - invoice.created_at < CREATING_STALE_AFTER:
        deadline = time.monotonic() + WAIT_FOR_CONCURRENT_CREATION_SECONDS
        while time.monotonic() < deadline:
            invoice.refresh_from_db(fields=["status", "qpay_invoice_id"])
            if invoice.qpay_invoice_id or invoice.status != Status.PENDING:
                return
            time.sleep(0.1)
        return
    if not retire:
        return
    cause = "superseded by a new purchase" if invoice.qpay_invoice_id else "abandoned while being created"
    cancel_invoice(invoice.pk, cause=cause, actor=actor)


def validate_with_esimgo(bundle, topup_iccid: str = "") -> dict:
    """Dry-run the eSIM Go order before taking money: refusal → 400, outage → 503."""
    from integrations.esimgo import client as esimgo

    # A successful validation is reused per bundle (and target eSIM) for a short while: a burst of
    # purchases of one plan costs one request of the shared eSIM Go budget, not one each.
    cache_key = f"payments:esimgo-validation:{bundle.name}:{topup_iccid}"
    result = cache.get(cache_key)
    try:
        if result is None:
            result = esimgo.ESIMGoClient(shopper=True).create_order(
                bundle.name, validate=True, iccid=topup_iccid or None
            )
            if isinstance(result, dict) and result.get("valid") is not False:
                cache.set(cache_key, result, int(getattr(settings, "ESIMGO_VALIDATION_CACHE_SECONDS", 60)))
    except esimgo.ESIMGoError as exc:
        permanent_refusal = isinstance(exc, (esimgo.ESIMGoBadRequest, esimgo.ESIMGoNotFound))
        logger.warning("eSIM Go validate for %s failed: %r", bundle.name, exc)
        if permanent_refusal:
            raise InvalidPurchase(_("This package cannot be bought right now."), field="packageCode") from exc
        raise ProviderUnavailable(
            _("The eSIM provider is not reachable right now. Please try again in a minute.")
        ) from exc
    if not isinstance(result, dict) or result.get("valid") is False:
        raise InvalidPurchase(_("This package cannot be bought right now."), field="packageCode")
    total = result.get("total")
    stored = Decimal(str(bundle.price or 0))
    if total is not None and stored:
        try:
            total = Decimal(str(total))
        except ArithmeticError:
            total = None
        tolerance = Decimal(str(getattr(settings, "ESIMGO_PRICE_TOLERANCE_PERCENT", 10)))
        if total is not None and abs(total - stored) * 100 > stored * tolerance:
            logger.warning("eSIM Go price for %s moved: stored %s, validated %s", bundle.name, bundle.price, total)
            raise InvalidPurchase(
                _("The price of this package has just changed. Please reload the page."), field="packageCode"
            )
    return result


def _insert_invoice(
    *,
    customer,
    bundle,
    amount_mnt,
    description,
    topup_iccid,
    company_register,
    language,
    actor,
    owner: PurchaseOwner | None = None,
    client_address: str | None = None,
):
    invoice_id = uuid.uuid4()
    ttl = timedelta(minutes=getattr(settings, "QPAY_INVOICE_TTL_MINUTES", 30))
    now = _now()
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                id=invoice_id,
                customer=customer,
                bundle=bundle,
                topup_iccid=topup_iccid,
                amount_mnt=amount_mnt,
                description=(description or "")[:255],
                company_register=company_register,
                language=language[:8],
                sender_invoice_no=new_sender_invoice_no(),
                expires_at=now + ttl,
                owner_key=owner.key if owner else "",
                request_fingerprint=owner.fingerprint if owner else "",
                client_address=client_address,
                next_check_at=schedules.first_check_at(now, now + ttl),
            )
            InvoiceTransition.objects.create(
                invoice=invoice,
                from_status="",
                to_status=Status.PENDING,
                name="open",
                cause="purchase started",
                actor=actor[:150],
            )
    except IntegrityError:
        return None
    return invoice


SHOP_NAME = "esimshop"


def qpay_description(invoice: Invoice) -> str:
    """What the shopper reads in the bank app when confirming: the plan's Mongolian name and the
    shop's name ("Япон 1 ГБ · 7 хоног · esimshop"), never eSIM Go's "eSIM, 1GB, 7 Days, ..., V2"."""
    if invoice.description:
        return invoice.description[:255]
    with translation.override("mn"):  # QPay is Mongolian whatever the shopper's page language
        label = bundle_label(invoice.bundle)
    return f"{label} · {SHOP_NAME}"[:255]


def _create_at_qpay(invoice: Invoice, *, actor: str) -> Invoice:
    try:
        created = QPayClient().create_invoice(
            sender_invoice_no=invoice.sender_invoice_no,
            amount=invoice.amount_mnt,
            description=qpay_description(invoice),
            callback_url=callback_url(invoice),
            lines=[
                {
                    "sender_product_code": invoice.bundle.name[:45],
                    "line_description": qpay_description(invoice),
                    "line_quantity": 1,
                    "line_unit_price": invoice.amount_mnt,
                }
            ],
        )
    except QPayError as exc:
        logger.error("QPay invoice creation failed for %s: %s", invoice.pk, exc)
        with transaction.atomic():
            locked = _locked(invoice.pk)
            if locked.status == Status.PENDING:
                _transition(locked, "cancel", cause=f"QPay invoice creation failed: {exc}", actor="system")
        raise ProviderUnavailable(
            _("The payment service is not reachable right now. Please try again in a minute.")
        ) from exc
    stored = {
        "qpay_invoice_id": created.invoice_id,
        "qr_text": created.qr_text,
        "qr_image": created.qr_image,
        "short_url": created.short_url[:255],
        "bank_urls": created.urls,
        "updated_at": _now(),
    }
    # One conditional UPDATE, not lock + save: the database decides in a single round trip whether
    # the row is still PENDING (the stale-row sweep may have cancelled it while QPay was slow; that
    # cancel holds the row lock, so exactly one of the two wins, as with select_for_update).
    if not Invoice.objects.filter(pk=invoice.pk, status=Status.PENDING).update(**stored):
        # Retired as stale while QPay was slow: do not hand out a second payable invoice.
        _cancel_at_qpay_on_commit(created.invoice_id)
        raise PurchaseInProgress(_("This purchase took too long. Please try again."))
    for attr, value in stored.items():
        setattr(invoice, attr, value)
    status_cache.invalidate(invoice.pk)  # it is payable now (a poll may have cached it without)
    _schedule_payment_checks_on_commit(invoice.pk)
    return invoice


def _cancel_at_qpay_on_commit(qpay_invoice_id: str) -> None:
    from payments.tasks import cancel_qpay_invoice_task

    # robust: a broker outage must not turn a committed cancel into an error; the invoice is
    # CANCELLED here and a payment at QPay after it is found by its late checks.
    transaction.on_commit(lambda: cancel_qpay_invoice_task.delay(qpay_invoice_id), robust=True)


cancel_qpay_invoice_on_commit = _cancel_at_qpay_on_commit


def schedule_expiry_at(invoice_id, eta) -> None:
    """An extra expiry task for an invoice whose expiry moved later (a remainder invoice)."""
    from payments.tasks import expire_invoice_task

    if _eager():
        return  # no broker: the payment page's lazy expiry covers it
    transaction.on_commit(lambda: expire_invoice_task.apply_async(args=[str(invoice_id)], eta=eta))


def _qpay_ids(invoice: Invoice) -> list[str]:
    """The purchase's QPay invoices: the first, then any remainder invoices (payments.remainder)."""
    ids = [invoice.qpay_invoice_id] if invoice.qpay_invoice_id else []
    return ids + list(invoice.remainders.exclude(qpay_invoice_id=None).values_list("qpay_invoice_id", flat=True))


def task_qpay_client() -> QPayClient:
    """The QPay client tasks use: one attempt per call, no in-client retry loop holding the worker
    slot (each call is at most connect + read timeout); the task retries with backoff instead."""
    return QPayClient(max_retries=0)


def cancel_qpay_invoice(qpay_invoice_id: str, *, client: QPayClient | None = None) -> None:
    """DELETE at QPay; already cancelled / not found count as done. Transient errors propagate."""
    try:
        (client or QPayClient()).cancel_invoice(qpay_invoice_id)
    except QPayNotFound:
        return
    except QPayError as exc:
        if exc.code in ("INVOICE_ALREADY_CANCELED", "INVOICE_ALREADY_CANCELLED"):
            return
        raise


def cancel_invoice(invoice_id, *, cause: str, actor: str) -> Invoice:
    """PENDING → CANCELLED here, then at QPay after commit. A payment after this is flagged."""
    with transaction.atomic():
        invoice = _locked(invoice_id)
        if invoice.status != Status.PENDING:
            return invoice
        _transition(invoice, "cancel", cause=cause, actor=actor)
        if invoice.qpay_invoice_id:
            _cancel_at_qpay_on_commit(invoice.qpay_invoice_id)
    return invoice


# --- Verification ---------------------------------------------------------------------------


def verify_invoice_payment(
    invoice_id,
    *,
    cause: str,
    actor: str,
    raise_transient: bool = False,
    recheck_paid: bool = False,
    client: QPayClient | None = None,
) -> Verification:
    """The one verification path (callback, retry task, status poll, staff).

    Order of work (seed 004): idempotency first → ask QPay payment/check with OUR stored QPay
    invoice id → count only PAID rows → amount must cover the invoice within 1 MNT → mark
    PAID under the invoice row lock (one winner) and hand over to orders in that transaction.
    `recheck_paid` asks QPay even for a PAID invoice (to notice a second payment).
    """
    bind_log_context(invoice_id=invoice_id)
    result = _verify(
        invoice_id, cause=cause, actor=actor, raise_transient=raise_transient, recheck_paid=recheck_paid, client=client
    )
    metrics.payment_checked(result.outcome)
    return result


def _verify(invoice_id, *, cause, actor, raise_transient, recheck_paid, client) -> Verification:
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status == Status.PAID and not recheck_paid:
        return Verification(DUPLICATE, invoice, "already paid")
    if not invoice.qpay_invoice_id:
        return Verification(NOT_PAID, invoice, "no QPay invoice")
    try:
        client = client or QPayClient()
        checks = [client.check_payment(qpay_id) for qpay_id in _qpay_ids(invoice)]
        check = (
            checks[0]
            if len(checks) == 1
            else PaymentCheck(
                count=sum(c.count for c in checks), paid_amount=None, rows=[r for c in checks for r in c.rows]
            )
        )
    except QPayError as exc:
        logger.warning("QPay payment/check for invoice %s failed: %s", invoice.pk, exc)
        if raise_transient and exc.transient:
            raise
        return Verification(VERIFY_FAILED, invoice, str(exc)[:255])
    return _apply_check(invoice.pk, check, cause=cause, actor=actor)


@transaction.atomic
def _apply_check(invoice_id, check, *, cause: str, actor: str) -> Verification:
    invoice = _locked(invoice_id)
    _record_payments(invoice, check.rows)
    # The check's bookkeeping is written with whatever else this outcome writes: one UPDATE of the
    # locked row per outcome, not one per field group.
    checked = {"last_checked_at": _now(), "check_count": invoice.check_count + 1}
    paid = sum((r.amount for r in check.paid_rows if r.currency.upper() in ("MNT", "")), Decimal("0"))
    due = Decimal(invoice.amount_mnt)
    if invoice.status == Status.PAID:
        # A second payment raises what the shopper sees as paid (never lowered: a refund is
        # recorded as a Refund, not by forgetting money that arrived).
        if paid > (invoice.paid_amount or 0):
            checked["paid_amount"] = paid
        _save(invoice, **checked)
        if paid > due + AMOUNT_TOLERANCE_MNT:
            flag_for_staff(invoice, _overpayment_reason(check, paid, due), actor=actor)
        return Verification(DUPLICATE, invoice, "already paid")
    if paid <= 0:
        _save(invoice, **checked)
        return Verification(NOT_PAID, invoice, f"{check.count} payment rows, none PAID")
    if paid < due - AMOUNT_TOLERANCE_MNT:
        _save(invoice, **checked, paid_amount=paid)
        flag_for_staff(invoice, f"short payment: {paid} MNT of {due} MNT", actor=actor)
        return Verification(AMOUNT_MISMATCH, invoice, f"paid {paid} of {due}")
    if invoice.status != Status.PENDING:
        _save(invoice, **checked, paid_amount=paid)
        flag_for_staff(invoice, f"payment of {paid} MNT arrived after the invoice was {invoice.status}", actor=actor)
        return Verification(LATE_PAYMENT, invoice, f"paid {paid} on a {invoice.status} invoice")
    _transition(invoice, "mark_paid", cause=cause, actor=actor, **checked, paid_amount=paid, paid_at=_now())
    _clear_short_payment_flag(invoice, paid, actor=actor)
    if paid > due + AMOUNT_TOLERANCE_MNT:
        flag_for_staff(invoice, _overpayment_reason(check, paid, due), actor=actor)
    signals.announce_invoice_paid(invoice, actor=actor)
    _schedule_ebarimt(invoice)
    return Verification(PAID, invoice, f"paid {paid}")


def _clear_short_payment_flag(invoice: Invoice, paid, *, actor: str) -> None:
    """The remainder arrived: the short payment staff were told about is complete now."""
    if not (invoice.needs_staff_attention and invoice.staff_attention_reason.startswith("short payment")):
        return
    reason = f"total complete: {paid} MNT of {invoice.amount_mnt} MNT"
    _save(invoice, needs_staff_attention=False, staff_attention_reason="")
    InvoiceTransition.objects.create(
        invoice=invoice,
        from_status=invoice.status,
        to_status=invoice.status,
        name="clear_staff_flag",
        cause=reason,
        actor=actor[:150],
    )
    logger.info("invoice %s: staff flag cleared (%s)", invoice.pk, reason)


def _save(invoice: Invoice, **changes) -> None:
    for attr, value in changes.items():
        setattr(invoice, attr, value)
    invoice.save(update_fields=[*changes, "updated_at"])
    # A write outside _transition (paid amount, remainder state) changes what a poll shows too.
    status_cache.invalidate(invoice.pk)


def _overpayment_reason(check, paid, due) -> str:
    """One wording per fact, whichever check sees it first: flag_for_staff alerts once per reason,
    so a double payment seen at mark_paid and again by a later check is one alert, not two."""
    kind = "paid more than once" if len(check.paid_rows) > 1 else "overpaid"
    return f"{kind}: {paid} MNT for a {due} MNT invoice"


def _record_payments(invoice: Invoice, rows) -> None:
    ours = set(_qpay_ids(invoice))
    for row in rows:
        if row.object_id and row.object_id not in ours:
            logger.warning(
                "QPay row %s belongs to %s, not %s; ignored", row.payment_id, row.object_id, invoice.qpay_invoice_id
            )
            continue
        paid_at = parse_datetime(row.payment_date) if row.payment_date else None
        if paid_at is not None and timezone.is_naive(paid_at):
            paid_at = timezone.make_aware(paid_at)
        payment, created = Payment.objects.get_or_create(
            qpay_payment_id=row.payment_id,
            defaults={
                "invoice": invoice,
                "status": row.status[:16],
                "amount": row.amount,
                "currency": row.currency[:3],
                "payment_type": row.payment_type[:16],
                "paid_at": paid_at,
                "raw": row.raw,
            },
        )
        if created:
            continue
        if payment.invoice_id != invoice.pk:
            logger.error("QPay payment %s already recorded on invoice %s", row.payment_id, payment.invoice_id)
            continue
        if payment.status != row.status[:16] or payment.amount != row.amount:
            payment.status, payment.amount, payment.raw = row.status[:16], row.amount, row.raw
            payment.save(update_fields=["status", "amount", "raw", "updated_at"])


def accept_late_payment(invoice_id, *, actor: str) -> Invoice:
    """Staff decision: money that arrived after cancel/expiry buys the eSIM after all."""
    with transaction.atomic():
        invoice = _locked(invoice_id)
        paid = invoice.paid_amount or Decimal("0")
        if paid < Decimal(invoice.amount_mnt) - AMOUNT_TOLERANCE_MNT:
            raise IllegalTransition(f"invoice {invoice.pk}: paid {paid} does not cover {invoice.amount_mnt}")
        _transition(invoice, "accept_late_payment", cause="late payment accepted by staff", actor=actor, paid_at=_now())
        signals.announce_invoice_paid(invoice, actor=actor)
        _schedule_ebarimt(invoice)
    return invoice


def _schedule_ebarimt(invoice: Invoice) -> None:
    """The VAT receipt, when EBARIMT_ENABLED: its own task after commit, never in the eSIM's way."""
    from payments import ebarimt

    ebarimt.schedule_receipt(invoice)


# --- Expiry and scheduling --------------------------------------------------------------------


def expire_invoice(invoice_id, *, actor: str = "task", client: QPayClient | None = None) -> str:
    """At expiry: one last check, cancel at QPay, then PENDING → EXPIRED.

    Transient QPay errors propagate (the task retries): we never expire an invoice we could
    not cancel or check, and a payment that lands after the cancel is flagged by verification.
    """
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status != Status.PENDING:
        return invoice.status
    if invoice.expires_at > _now() + EXPIRY_SLACK:
        return "NOT_DUE"
    cancelled_at_qpay = None
    if invoice.qpay_invoice_id:
        result = verify_invoice_payment(
            invoice.pk, cause="final check at expiry", actor=actor, raise_transient=True, client=client
        )
        if result.outcome in (PAID, DUPLICATE):
            return result.invoice.status
        try:
            cancel_qpay_invoice(invoice.qpay_invoice_id, client=client)
        except QPayError as exc:
            if exc.transient:
                raise
            if exc.code == "INVOICE_PAID":
                # Paid between our check and the cancel: verify again; the payment wins.
                result = verify_invoice_payment(
                    invoice.pk,
                    cause="QPay refused cancel: INVOICE_PAID",
                    actor=actor,
                    raise_transient=True,
                    client=client,
                )
                if result.outcome in (PAID, DUPLICATE):
                    return result.invoice.status
            logger.error("QPay refused to cancel invoice %s: %s; expiring locally", invoice.pk, exc)
        else:
            cancelled_at_qpay = _now()
        _cancel_remainders_at_qpay(invoice)
    with transaction.atomic():
        locked = _locked(invoice.pk)
        if locked.status != Status.PENDING:
            return locked.status
        cause = "expired; cancelled at QPay" if cancelled_at_qpay else "expired"
        _transition(locked, "expire", cause=cause, actor=actor, qpay_cancelled_at=cancelled_at_qpay)
    return Status.EXPIRED


def _cancel_remainders_at_qpay(invoice: Invoice) -> None:
    """At expiry the remainder invoices go too (a payment after this is flagged, as for the first)."""
    for remainder in invoice.remainders.exclude(qpay_invoice_id=None).filter(qpay_cancelled_at=None):
        try:
            cancel_qpay_invoice(remainder.qpay_invoice_id)
        except QPayError as exc:
            if exc.transient:
                raise
            logger.error("QPay refused to cancel remainder invoice %s: %s", remainder.qpay_invoice_id, exc)
            continue
        type(remainder).objects.filter(pk=remainder.pk).update(qpay_cancelled_at=_now())


def _schedule_payment_checks_on_commit(invoice_id) -> None:
    """After commit, ONE task that enqueues the schedule below from the worker: the purchase
    request pays for one broker message, not five (each is a Redis round trip plus Celery's
    message building). The ETAs are absolute (from created_at/expires_at), so the checks run
    when they always did; a re-run of the task only adds duplicate checks, which are no-ops."""
    from payments.tasks import schedule_payment_checks_task

    if _eager():
        return  # schedule_payment_checks would schedule nothing without a broker
    # robust: with the broker down the purchase still answers; the invoice's next_check_at and
    # expires_at (written with the row) drive the sweep, the ETA tasks only speed it up.
    transaction.on_commit(lambda: schedule_payment_checks_task.delay(str(invoice_id)), robust=True)


def schedule_payment_checks(invoice_id) -> int:
    """Enqueue the bounded retry schedule (ETA tasks). Returns how many were enqueued.

    Without a broker (eager dev mode) an ETA task would run immediately, so nothing is
    scheduled: the payment page's status poll and lazy expiry cover that mode.
    """
    from esimshop.celery import app
    from payments.tasks import check_invoice_payment_task, expire_invoice_task

    if app.conf.task_always_eager:
        return 0
    invoice = Invoice.objects.get(pk=invoice_id)
    count = 0
    for eta, kind in payment_check_plan(invoice.created_at, invoice.expires_at):
        if kind == "check":
            check_invoice_payment_task.apply_async(args=[str(invoice.pk)], kwargs={"cause": "scheduled check"}, eta=eta)
        else:
            expire_invoice_task.apply_async(args=[str(invoice.pk)], eta=eta)
        count += 1
    return count


def sweep_pending_invoices(now=None) -> dict:
    """Kept for callers of the old location; the sweep is payments.schedules.sweep_pending_invoices."""
    return schedules.sweep_pending_invoices(now)


def _eager() -> bool:
    from esimshop.celery import app

    return bool(app.conf.task_always_eager)


def enqueue_check(invoice_id, *, cause: str, countdown: int = 0, recheck_paid: bool = False) -> None:
    """A payment check as a task; without a broker (dev) inline and once, or not at all when
    it was meant for later (an eager ETA task would run now)."""
    from payments.tasks import check_invoice_payment_task

    if not _eager():
        transaction.on_commit(
            lambda: check_invoice_payment_task.apply_async(
                args=[str(invoice_id)],
                kwargs={"cause": cause, "recheck_paid": recheck_paid},
                countdown=countdown,
            ),
            robust=True,
        )  # broker down: the database schedule's sweep checks it instead
        return
    if countdown:
        return
    try:
        verify_invoice_payment(invoice_id, cause=cause, actor="task", recheck_paid=recheck_paid)
    except QPayError as exc:  # verify only raises with raise_transient; belt and braces
        logger.warning("inline check of invoice %s failed: %s", invoice_id, exc)


def enqueue_expiry(invoice_id) -> None:
    from payments.tasks import expire_invoice_task

    if not _eager():
        transaction.on_commit(
            lambda: expire_invoice_task.delay(str(invoice_id)), robust=True
        )  # the sweep expires it too
        return
    try:
        expire_invoice(invoice_id, actor="task")
    except QPayError as exc:
        logger.warning("inline expiry of invoice %s failed: %s", invoice_id, exc)


# Callback intake (the raw inbox, then verification) lives in payments/inbox.py.
