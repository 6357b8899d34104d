"""What the QPay client returns: frozen dataclasses parsed once from the wire, tolerant of the
field spellings and shapes recorded in docs/providers/qpay.md (amounts as strings or numbers,
payment_wallet/payemnt_wallet, trx_fee/payment_fee, payment_type/transaction_type/paid_by,
CANCELED/CANCELLED). Answers the shop keeps as evidence carry the JSON as received in `raw`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from integrations.qpay.errors import QPayMalformedResponse

# QPay is a Mongolian service: a time it sends without an offset is Ulaanbaatar time.
QPAY_TIME_ZONE = ZoneInfo("Asia/Ulaanbaatar")


# --- Parsing helpers ----------------------------------------------------------------------


def to_decimal(value: Any) -> Decimal | None:
    """QPay amounts: strings or numbers; None/"" stay None. Never via float."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise QPayMalformedResponse(f"amount is a boolean: {value!r}")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise QPayMalformedResponse(f"amount is not a number: {value!r}") from exc
    if not result.is_finite():
        raise QPayMalformedResponse(f"amount is not a finite number: {value!r}")
    return result


def to_count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError) as exc:
        raise QPayMalformedResponse(f"count is not a number: {value!r}") from exc


def parse_time(value: Any) -> datetime | None:
    """QPay's "YYYY-MM-DD HH:MM:SS" (Ulaanbaatar time) or RFC 3339; None if absent or unreadable."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=QPAY_TIME_ZONE) if parsed.tzinfo is None else parsed


def normalise_invoice_status(value: Any) -> str:
    """OPEN / CLOSED / CANCELLED (QPay sends CANCELED in practice, its docs say CANCELLED)."""
    status = str(value or "").strip().upper()
    return "CANCELLED" if status in ("CANCELED", "CANCELLED") else status


def first(data: dict[str, Any], *keys: str, default: Any = None) -> Any:
    """The first of several spellings of one field that QPay sent."""
    for key in keys:
        if key in data and data[key] is not None:
            return data[key]
    return default


def _text(value: Any) -> str:
    return str(value) if value is not None else ""


def _safe_link(link: Any) -> bool:
    """Bank deeplinks are custom schemes (khanbank://...); never script or data URLs in our pages."""
    text = str(link or "").strip().lower()
    return bool(text) and "://" in text and not text.startswith(("javascript:", "data:", "vbscript:"))


def _http_url(value: Any) -> str:
    text = str(value or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


# --- Invoices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedInvoice:
    """POST /v2/invoice. The QR fields come only here (GET /invoice returns none of them)."""

    invoice_id: str
    qr_text: str
    qr_image: str  # bare base64 PNG
    short_url: str
    urls: list[dict[str, str]]  # bank-app deeplinks: name, description, logo, link
    raw: dict[str, Any]

    @classmethod
    def from_wire(cls, data: Any) -> CreatedInvoice:
        if not isinstance(data, dict) or not data.get("invoice_id"):
            raise QPayMalformedResponse("invoice response without invoice_id")
        qr_image = str(data.get("qr_image") or "")
        if qr_image.startswith("data:") and "," in qr_image:  # tolerate a prefixed image
            qr_image = qr_image.split(",", 1)[1]
        urls: list[Any] = data["urls"] if isinstance(data.get("urls"), list) else []
        return cls(
            invoice_id=str(data["invoice_id"]),
            qr_text=str(data.get("qr_text") or ""),
            qr_image=qr_image,
            short_url=_http_url(first(data, "qPay_shortUrl", "qpay_shortUrl", "short_url", default="")),
            urls=[
                {k: str(u.get(k) or "") for k in ("name", "description", "logo", "link")}
                for u in urls
                if isinstance(u, dict) and _safe_link(u.get("link"))
            ],
            raw=data,
        )


@dataclass(frozen=True)
class InvoiceInfo:
    """GET /v2/invoice/{id}."""

    invoice_id: str
    status: str  # normalised: OPEN, CLOSED, CANCELLED, ...
    total_amount: Decimal | None
    sender_invoice_no: str
    raw: dict[str, Any]

    @classmethod
    def from_wire(cls, data: Any, *, invoice_id: str) -> InvoiceInfo:
        if not isinstance(data, dict):
            raise QPayMalformedResponse("invoice is not an object")
        return cls(
            invoice_id=str(data.get("invoice_id") or invoice_id),
            status=normalise_invoice_status(data.get("invoice_status")),
            total_amount=to_decimal(first(data, "total_amount", "gross_amount", "amount")),
            sender_invoice_no=str(data.get("sender_invoice_no") or ""),
            raw=data,
        )


# --- Payments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRow:
    """One payment: a row of payment/check or payment/list, or GET /v2/payment/{id}."""

    payment_id: str
    status: str  # upper case: NEW, FAILED, PAID, PARTIAL, REFUNDED
    amount: Decimal
    currency: str
    fee: Decimal | None
    payment_type: str  # upper case: P2P, CARD, ... ("" when QPay did not say)
    wallet: str
    payment_date: str  # as sent
    object_type: str
    object_id: str  # the QPay invoice id for object_type INVOICE
    raw: dict[str, Any]
    paid_at: datetime | None = None  # payment_date read as an aware datetime

    @property
    def is_paid(self) -> bool:
        return self.status == "PAID"

    @classmethod
    def from_wire(cls, row: Any) -> PaymentRow:
        if not isinstance(row, dict) or not row.get("payment_id"):
            raise QPayMalformedResponse(f"payment row without payment_id: {row!r}"[:300])
        amount = to_decimal(first(row, "payment_amount", "amount"))
        payment_date = str(first(row, "payment_date", "payment_datetime", default=""))
        return cls(
            payment_id=str(row["payment_id"]),
            status=str(row.get("payment_status") or "").upper(),
            amount=amount if amount is not None else Decimal("0"),
            currency=str(first(row, "payment_currency", "currency", default="MNT")),
            fee=to_decimal(first(row, "trx_fee", "payment_fee")),
            payment_type=str(first(row, "payment_type", "transaction_type", "paid_by", default="")).upper(),
            wallet=str(first(row, "payment_wallet", "payemnt_wallet", default="")),
            payment_date=payment_date,
            object_type=str(row.get("object_type") or ""),
            object_id=str(row.get("object_id") or ""),
            raw=row,
            paid_at=parse_time(payment_date),
        )


@dataclass(frozen=True)
class PaymentCheck:
    """POST /v2/payment/check, every page."""

    count: int
    paid_amount: Decimal | None  # absent (None) when nothing was paid
    rows: list[PaymentRow] = field(default_factory=list)

    @property
    def paid_rows(self) -> list[PaymentRow]:
        return [r for r in self.rows if r.is_paid]

    @property
    def total_paid(self) -> Decimal:
        """Money in: only PAID rows count (a REFUNDED row keeps its positive amount)."""
        return sum((r.amount for r in self.paid_rows), Decimal("0"))


@dataclass(frozen=True)
class PaymentList:
    """One page of POST /v2/payment/list; `count` is the whole list's length as QPay reports it."""

    count: int
    rows: tuple[PaymentRow, ...]


@dataclass(frozen=True)
class PaymentReversal:
    """DELETE /v2/payment/refund/{id} or /payment/cancel/{id}: QPay answers {} (kept as evidence)."""

    raw: dict[str, Any]


# --- E-barimt -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedEbarimt:
    """POST /v2/ebarimt_v3/create: the VAT receipt QPay registered for one payment."""

    id: str  # QPay's id of the receipt
    receipt_id: str  # ebarimt_receipt_id (33 digits)
    lottery: str
    qr_data: str
    amount: Decimal | None
    vat_amount: Decimal | None
    status: str  # barimt_status, e.g. REGISTERED
    raw: dict[str, Any]

    @classmethod
    def from_wire(cls, data: Any) -> IssuedEbarimt:
        if not isinstance(data, dict):
            raise QPayMalformedResponse("ebarimt response is not an object")

        def lenient_amount(key: str) -> Decimal | None:
            # A receipt QPay registered is issued whatever its echo of the amounts looks like.
            try:
                return to_decimal(data.get(key))
            except QPayMalformedResponse:
                return None

        return cls(
            id=_text(data.get("id")),
            receipt_id=_text(data.get("ebarimt_receipt_id")),
            lottery=_text(data.get("ebarimt_lottery")),
            qr_data=_text(data.get("ebarimt_qr_data")),
            amount=lenient_amount("amount"),
            vat_amount=lenient_amount("vat_amount"),
            status=_text(data.get("barimt_status")).upper(),
            raw=data,
        )


@dataclass(frozen=True)
class CancelledEbarimt:
    """DELETE /v2/ebarimt_v3/{payment_id}."""

    status: str  # barimt_status, CANCELED once done
    raw: dict[str, Any]
