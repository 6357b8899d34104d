"""Sandbox QPay internals: tokens, QR payloads, payments and the callback to the shop."""

import base64
import io
import json
import logging
import secrets
import threading
import time
import uuid
from decimal import Decimal
from urllib.parse import urlencode, urljoin

import qrcode
import requests
from django.conf import settings
from django.db import connection, transaction
from django.templatetags.static import static
from django.utils.crypto import constant_time_compare, salted_hmac

from sandbox.qpay import faults
from sandbox.qpay.models import SandboxInvoice, SandboxPayment

logger = logging.getLogger(__name__)

TOKEN_SALT = "sandbox.qpay.token"
SANDBOX_MERCHANT_ID = "KKTT"
CALLBACK_TIMEOUT_SECONDS = 10

# Name → (Mongolian description, deeplink scheme), a subset of the production list (docs/providers/qpay.md, Bank apps).
BANKS = [
    ("qPay wallet", "qPay хэтэвч", "qpaywallet"),
    ("Khan bank", "Хаан банк", "khanbank"),
    ("State bank 3.0", "Төрийн банк 3.0", "statebankmongolia"),
    ("Xac bank", "Хас банк", "xacbank"),
    ("Trade and Development bank", "Худалдаа хөгжлийн банк", "tdbbank"),
    ("Social Pay", "Голомт банк", "socialpay-payment"),
    ("Most money", "МОСТ мони", "most"),
    ("National investment bank", "Үндэсний хөрөнгө оруулалтын банк", "nibank"),
    ("Capitron bank", "Капитрон банк", "capitronbank"),
    ("Bogd bank", "Богд банк", "bogdbank"),
]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# --- tokens ---------------------------------------------------------------------------------


def merchant_id() -> str:
    """The sandbox merchant's id: QPAY_MERCHANT_ID when set, else the public sandbox's "KKTT"
    (docs/providers/qpay.md, Tokens). It is the `merchant_id` claim of every token we issue."""
    return settings.QPAY_MERCHANT_ID or SANDBOX_MERCHANT_ID


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(payload: dict) -> str:
    """QPay's tokens are JWTs (HS256 here, signed with a salted SECRET_KEY); clients read claims."""
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    signature = _b64url(salted_hmac(TOKEN_SALT, f"{head}.{body}", algorithm="sha256").digest())
    return f"{head}.{body}.{signature}"


def issue_tokens(client_id: str) -> dict:
    """The real response shape: absolute unix `expires_in`, refresh expiring with it,
    and the hyphenated `not-before-policy` as a string."""
    expires = int(time.time()) + int(settings.SANDBOX_QPAY_TOKEN_LIFETIME)
    nonce = secrets.token_hex(8)
    claims = {"c": client_id, "exp": expires, "iat": int(time.time()), "n": nonce, "merchant_id": merchant_id()}
    access = _jwt({**claims, "k": "access"})
    refresh = _jwt({**claims, "k": "refresh"})
    return {
        "token_type": "bearer",
        "refresh_expires_in": expires,
        "refresh_token": refresh,
        "access_token": access,
        "expires_in": expires,
        "scope": "get_token",
        "not-before-policy": "0",
        "session_state": "sandbox",
    }


def read_token(token: str, kind: str) -> dict | None:
    head, _, rest = str(token or "").partition(".")
    body, _, signature = rest.partition(".")
    expected = _b64url(salted_hmac(TOKEN_SALT, f"{head}.{body}", algorithm="sha256").digest())
    if not (head and body and constant_time_compare(signature, expected)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("k") != kind or data.get("exp", 0) <= time.time() or data.get("c") != settings.SANDBOX_QPAY_CLIENT_ID:
        return None
    return data


# --- invoices -------------------------------------------------------------------------------


def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _crc16_ccitt(data: str) -> str:
    crc = 0xFFFF
    for byte in data.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return f"{crc:04X}"


def emv_qr_text(invoice_id: uuid.UUID, amount: Decimal) -> str:
    """An EMVCo merchant-presented payload like QPay's (merchant name and ULAANBAATAR inside)."""
    body = (
        _tlv("00", "01")
        + _tlv("01", "12")
        + _tlv("26", _tlv("00", "mn.qpay") + _tlv("01", invoice_id.hex[:24].upper()))
        + _tlv("52", "4814")
        + _tlv("53", "496")
        + _tlv("54", f"{amount:.2f}")
        + _tlv("58", "MN")
        + _tlv("59", "ESIMSHOP")
        + _tlv("60", "ULAANBAATAR")
    )
    body += "6304"
    return body + _crc16_ccitt(body)


def qr_png_base64(text: str) -> str:
    """Bare base64 PNG, no data: prefix (as QPay sends it)."""
    image = qrcode.make(text, box_size=6, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def bank_urls(qr_text: str, *, base_url: str = "") -> list[dict]:
    """Like QPay's `urls`, except the logos: absolute URLs of the shop's own static files
    (sandbox_qpay/banks/*.svg), not qpay.mn, so the sandbox works offline and under the CSP."""
    base = (base_url or settings.SITE_URL).rstrip("/") + "/"
    return [
        {
            "name": name,
            "description": description,
            "logo": urljoin(base, static(f"sandbox_qpay/banks/{scheme}.svg")),
            "link": f"{scheme}://q?qPay_QRcode={qr_text}",
        }
        for name, description, scheme in BANKS
    ]


def money(value: Decimal) -> str:
    return f"{Decimal(value):.2f}"


def number(value: Decimal):
    """Some QPay amounts are JSON numbers: int when whole, else float-free string-exact."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


# --- payments -------------------------------------------------------------------------------


def new_payment_id(payment_type: str) -> str:
    """P2P ids are 15-digit numeric strings; card ids are UUIDs (docs/providers/qpay.md, Payment check)."""
    if payment_type == SandboxPayment.Type.CARD:
        return str(uuid.uuid4())
    return str(secrets.randbelow(9 * 10**14) + 10**14)


def pay(invoice_id, *, amount: Decimal, payment_type: str, allow_cancelled: bool = False) -> SandboxPayment:
    """A person paid `amount` on this invoice. Paying twice is allowed (it happens)."""
    with transaction.atomic():
        invoice = SandboxInvoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status == SandboxInvoice.Status.CANCELED and not allow_cancelled:
            raise ApiError(400, "INVOICE_ALREADY_CANCELED", "Нэхэмжлэл цуцлагдсан байна")
        payment = SandboxPayment.objects.create(
            payment_id=new_payment_id(payment_type),
            invoice=invoice,
            amount=amount,
            payment_type=payment_type,
            wallet="qPay wallet" if payment_type == SandboxPayment.Type.P2P else "card",
        )
        paid = sum(p.amount for p in invoice.payments.filter(status=SandboxPayment.Status.PAID))
        if invoice.status == SandboxInvoice.Status.OPEN and paid >= invoice.amount:
            invoice.status = SandboxInvoice.Status.CLOSED
            invoice.save(update_fields=["status", "updated_at"])
        transaction.on_commit(lambda: send_callback_async(payment.payment_id))
    return payment


def callback_url_for(payment: SandboxPayment) -> str:
    url = payment.invoice.callback_url
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'qpay_payment_id': payment.payment_id})}"


def send_callback(payment_id: str) -> None:
    """GET callback_url?…&qpay_payment_id=<id>, exactly as QPay does; record the shop's answer."""
    payment = SandboxPayment.objects.select_related("invoice").get(pk=payment_id)
    if faults.take("GET", "callback") is not None:
        payment.callback_error = "lost (sandbox fault)"
        payment.save(update_fields=["callback_error"])
        return
    try:
        response = requests.get(callback_url_for(payment), timeout=CALLBACK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        payment.callback_error = f"{exc.__class__.__name__}"[:255]
        payment.save(update_fields=["callback_error"])
        logger.warning("sandbox QPay callback for %s failed: %s", payment_id, exc)
        return
    payment.callback_status = response.status_code
    payment.callback_body = response.text[:255]
    payment.save(update_fields=["callback_status", "callback_body"])


def send_callback_async(payment_id: str) -> None:
    """In a thread, so the (threaded) dev server is free to serve the shop's callback view."""
    if settings.SANDBOX_QPAY_CALLBACK_INLINE:
        send_callback(payment_id)
        return

    def run():
        try:
            send_callback(payment_id)
        except Exception:  # noqa: BLE001 - a background thread must not die loudly
            logger.exception("sandbox QPay callback thread for %s crashed", payment_id)
        finally:
            connection.close()

    threading.Thread(target=run, name=f"sandbox-qpay-callback-{payment_id}", daemon=True).start()


# --- e-barimt -------------------------------------------------------------------------------


def register_ebarimt(payment, *, receiver_type: str, receiver: str, district_code: str, classification_code: str):
    """One receipt per payment: asking again returns the same receipt (the sandbox's choice; the
    real API's answer to a repeat is unrecorded)."""
    from sandbox.qpay.models import SandboxEbarimt

    digest = uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-ebarimt-{payment.payment_id}").int
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    lottery = f"{letters[digest % 23]}{letters[(digest // 23) % 23]} {digest % 10**8:08d}"
    return SandboxEbarimt.objects.get_or_create(
        payment=payment,
        defaults={
            "receiver_type": receiver_type,
            "receiver": receiver,
            "district_code": district_code,
            "classification_code": classification_code,
            "lottery": lottery,
            "receipt_id": f"{digest % 10**33:033d}",
        },
    )


def ebarimt_qr_data(receipt) -> str:
    """A digit string standing in for the tax authority's signed QR payload."""
    return f"{receipt.receipt_id}{int(receipt.payment.amount * 100):012d}{receipt.lottery.replace(' ', '')}"
