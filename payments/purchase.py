"""Purchases: the server-priced QPay invoice for one bundle, idempotent per owner, within caps.

start_purchase checks the price and availability (our eSIM Go balance, an eSIM Go dry run),
inserts the invoice row (PENDING) before QPay is called, then creates the QPay invoice and
schedules its payment checks (payments.expiry). An open invoice is handed back only to its owner:
the browser session that opened it, or the API caller repeating its Idempotency-Key.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import translation
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from catalog import balance
from catalog.models import Bundle
from catalog.selectors import bundle_label
from esimshop import metrics
from esimshop.logs import bind as bind_log_context
from integrations.esimgo import client as esimgo
from integrations.esimgo.answers import ESIMGoOrder
from integrations.qpay.client import QPayClient, QPayError
from payments import expiry, schedules, status_cache
from payments.inbox import callback_url
from payments.models import Customer, Invoice, InvoiceTransition
from payments.schedules import CREATING_STALE_AFTER
from payments.services import Status, _locked, _now, _transition

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

# A double-submit gets the open invoice back only if it is still worth paying.
REUSE_MIN_REMAINING = timedelta(minutes=3)
WAIT_FOR_CONCURRENT_CREATION_SECONDS = 30


class PurchaseError(Exception):
    """A purchase the shop refuses. `field` names the API field (packageCode, amount, ...)."""

    http_status = 400

    # A lazy message is rendered in the language of the answer, which the view picks afterwards.
    def __init__(self, message: StrOrPromise, *, field: str | None = None):
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


def _customer_for(*, phone_number: str, email: str) -> tuple[Customer, bool]:
    """(customer, created by this call), by the (phone, e-mail) pair; the unique constraint
    settles concurrent first purchases."""
    phone_number, email = phone_number.strip(), email.strip().lower()
    customer = Customer.objects.filter(phone_number=phone_number, email=email).first()
    if customer is not None:
        return customer, False
    if connection.in_atomic_block:  # a caller's transaction: a savepoint keeps it usable after a collision
        return Customer.objects.get_or_create(phone_number=phone_number, email=email)
    try:
        # In autocommit the INSERT is its own transaction and a collision spoils nothing: no
        # BEGIN/COMMIT round trips around it, as get_or_create's atomic block would send.
        return Customer.objects.create(phone_number=phone_number, email=email), True
    except IntegrityError:  # a concurrent first purchase by the same shopper created it
        return Customer.objects.get(phone_number=phone_number, email=email), False


def new_sender_invoice_no() -> str:
    """Our reference at QPay: random, unrelated to the invoice id or its access token (it shows in
    QPay's portal and bank statements, so it must open nothing). Letters and digits only (QPay
    forbids special characters), 36 of the 45 allowed."""
    return f"ESIM{secrets.token_hex(16).upper()}"


def start_purchase(
    *,
    phone_number: str,
    email: str,
    bundle: Bundle,
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
        if owner is not None and existing is not None:
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


def _owners_invoice(owner: PurchaseOwner, customer: Customer, bundle: Bundle, topup_iccid: str) -> Invoice | None:
    if owner.is_idempotency_key:
        return Invoice.objects.filter(owner_key=owner.key).first()
    return Invoice.objects.filter(
        owner_key=owner.key, customer=customer, bundle=bundle, topup_iccid=topup_iccid, status=Status.PENDING
    ).first()


def enforce_open_invoice_caps(*, phone_number: str, email: str, client_address: str | None) -> None:
    """Open (payable) invoices per phone, e-mail, client address and in total, in one query.
    A soft cap (counted, not locked): concurrent purchases may pass it by a few."""
    caps = {
        "phone": int(settings.PAYMENTS_MAX_OPEN_INVOICES_PER_PHONE),
        "email": int(settings.PAYMENTS_MAX_OPEN_INVOICES_PER_EMAIL),
        "address": int(settings.PAYMENTS_MAX_OPEN_INVOICES_PER_ADDRESS),
        "total": int(settings.PAYMENTS_MAX_OPEN_INVOICES_TOTAL),
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
    expiry.cancel_invoice(invoice.pk, cause=cause, actor=actor)


def validate_with_esimgo(bundle: Bundle, topup_iccid: str = "") -> ESIMGoOrder:
    """Dry-run the eSIM Go order before taking money: refusal → 400, outage → 503."""
    # A successful validation is reused per bundle (and target eSIM) for a short while: a burst of
    # purchases of one plan costs one request of the shared eSIM Go budget, not one each. The key's
    # "v2" is the typed answer's: a release never reads the raw dicts the previous one cached.
    cache_key = f"payments:esimgo-validation:v2:{bundle.name}:{topup_iccid}"
    result = cache.get(cache_key)
    try:
        if not isinstance(result, ESIMGoOrder):
            result = esimgo.ESIMGoClient(shopper=True).create_order(
                bundle.name, validate=True, iccid=topup_iccid or None
            )
            if not result.refused:
                cache.set(cache_key, result, int(settings.ESIMGO_VALIDATION_CACHE_SECONDS))
    except esimgo.ESIMGoError as exc:
        permanent_refusal = isinstance(exc, (esimgo.ESIMGoBadRequest, esimgo.ESIMGoNotFound))
        logger.warning("eSIM Go validate for %s failed: %r", bundle.name, exc)
        if permanent_refusal:
            raise InvalidPurchase(_("This package cannot be bought right now."), field="packageCode") from exc
        raise ProviderUnavailable(
            _("The eSIM provider is not reachable right now. Please try again in a minute.")
        ) from exc
    if result.refused:
        raise InvalidPurchase(_("This package cannot be bought right now."), field="packageCode")
    stored = Decimal(str(bundle.price or 0))
    if result.total is not None and stored:
        tolerance = Decimal(str(settings.ESIMGO_PRICE_TOLERANCE_PERCENT))
        if abs(result.total - stored) * 100 > stored * tolerance:
            logger.warning(
                "eSIM Go price for %s moved: stored %s, validated %s", bundle.name, bundle.price, result.total
            )
            raise InvalidPurchase(
                _("The price of this package has just changed. Please reload the page."), field="packageCode"
            )
    return result


def _insert_invoice(
    *,
    customer: Customer,
    bundle: Bundle,
    amount_mnt: int,
    description: str,
    topup_iccid: str,
    company_register: str,
    language: str,
    actor: str,
    owner: PurchaseOwner | None = None,
    client_address: str | None = None,
) -> Invoice | None:
    """The PENDING row, before QPay is asked; None when the owner's concurrent submit inserted first."""
    invoice_id = uuid.uuid4()
    ttl = timedelta(minutes=settings.QPAY_INVOICE_TTL_MINUTES)
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
        expiry.cancel_qpay_invoice_on_commit(created.invoice_id)
        raise PurchaseInProgress(_("This purchase took too long. Please try again."))
    for attr, value in stored.items():
        setattr(invoice, attr, value)
    status_cache.invalidate(invoice.pk)  # it is payable now (a poll may have cached it without)
    expiry.schedule_payment_checks_on_commit(invoice.pk)
    return invoice
