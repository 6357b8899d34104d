"""The sandbox QPay merchant API v2, wire-compatible with docs/providers/qpay.md, and as strict:
Basic auth for /v2/auth/token (401 otherwise), bearer token everywhere else (401),
{"error": CODE, "message": text} error bodies, required fields and length limits on invoice
creation, mixed string/number amounts like production, CANCELED with one L, refunds for
card payments only. Plus a "bank app" page where a person pays and QPay's GET callback follows.
Fault injection: see faults.py.
"""

import base64
import binascii
import json
import time
import uuid
from decimal import Decimal, InvalidOperation
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from sandbox.qpay import faults, services
from sandbox.qpay.models import SandboxEbarimt, SandboxInvoice, SandboxPayment
from sandbox.qpay.services import ApiError, money, number

# No upper bound on page_limit: real clients send more than 100 (docs/providers/qpay.md, Payment list).


def error(status: int, code: str, message: str, **headers):
    response = JsonResponse({"error": code, "message": message}, status=status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def _fault_response(spec: dict):
    body = spec.get("body", {"error": "INTERNAL_ERROR", "message": "sandbox fault"})
    if isinstance(body, (dict, list)):
        response = JsonResponse(body, status=int(spec.get("status", 500)), safe=False)
    else:
        response = HttpResponse(str(body), status=int(spec.get("status", 500)))
    for key, value in (spec.get("headers") or {}).items():
        response[key] = value
    return response


def _basic_credentials(request):
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def _bearer(request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def api(name: str, methods: tuple, *, auth: str = "bearer"):
    """Auth, method check, fault injection and {"error","message"} bodies for one endpoint."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return error(405, "METHOD_NOT_ALLOWED", f"{request.method} not allowed")
            if auth == "bearer":
                token = _bearer(request)
                if not token:
                    return error(401, "NO_CREDENDIALS", "Authorization header required")
                if services.read_token(token, "access") is None:
                    return error(401, "AUTHENTICATION_FAILED", "Invalid or expired token")
            fault = faults.take(request.method, name)  # {} is a fault too: all defaults
            if fault is not None and fault.get("delay"):
                time.sleep(float(fault["delay"]))
            if fault is not None and not fault.get("after"):
                return _fault_response(fault)
            try:
                response = view(request, *args, **kwargs)
            except ApiError as exc:
                response = error(exc.status, exc.code, exc.message)
            return _fault_response(fault) if fault is not None else response

        return wrapper

    return decorate


def _json_body(request, *, required: bool = True) -> dict:
    if not request.body:
        if required:
            raise ApiError(400, "OBJECT_DATA_ERROR", "Request body is required")
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise ApiError(400, "OBJECT_DATA_ERROR", "Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "OBJECT_DATA_ERROR", "Request body must be an object")
    return body


def _text(body: dict, field: str, max_length: int, *, required: bool = True) -> str:
    value = body.get(field)
    if value is None or value == "":
        if required:
            raise ApiError(400, "OBJECT_DATA_ERROR", f"{field} is required")
        return ""
    if not isinstance(value, str):
        raise ApiError(400, "OBJECT_DATA_ERROR", f"{field} must be a string")
    if len(value) > max_length:
        raise ApiError(400, "OBJECT_DATA_ERROR", f"{field} must be at most {max_length} characters")
    return value


def _amount(value, field: str, *, allow_zero: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ApiError(400, "INVALID_AMOUNT", f"{field} must be a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ApiError(400, "INVALID_AMOUNT", f"{field} must be a number") from exc
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero):
        raise ApiError(400, "INVALID_AMOUNT", f"{field} must be positive")
    return amount


def _offset(body: dict) -> tuple[int, int]:
    offset = body.get("offset") or {}
    if not isinstance(offset, dict):
        raise ApiError(400, "OBJECT_DATA_ERROR", "offset must be an object")
    try:
        page = int(offset.get("page_number", 1))
        limit = int(offset.get("page_limit", 100))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "OBJECT_DATA_ERROR", "offset.page_number/page_limit must be integers") from exc
    if page < 1 or limit < 1:
        raise ApiError(400, "OBJECT_DATA_ERROR", "page_number >= 1, page_limit >= 1")
    return page, limit


def _get_invoice(invoice_id) -> SandboxInvoice:
    key = _uuid_or_none(invoice_id)
    invoice = SandboxInvoice.objects.filter(pk=key).first() if key else None
    if invoice is None:
        raise ApiError(422, "INVOICE_NOTFOUND", "Нэхэмжлэл олдсонгүй")
    return invoice


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _get_payment(payment_id) -> SandboxPayment:
    payment = SandboxPayment.objects.select_related("invoice").filter(pk=payment_id).first()
    if payment is None:
        raise ApiError(422, "PAYMENT_NOTFOUND", "Гүйлгээ олдсонгүй")
    return payment


# --- auth -------------------------------------------------------------------------------------


@api("auth_token", ("POST",), auth="basic")
def auth_token(request):
    credentials = _basic_credentials(request)
    if credentials is None:
        return error(401, "NO_CREDENDIALS", "Basic authorization required")
    username, password = credentials
    # This installation's sandbox merchant only: the sandbox never compares the real QPay secret.
    if not (
        constant_time_compare(username, settings.SANDBOX_QPAY_CLIENT_ID)
        and constant_time_compare(password, settings.SANDBOX_QPAY_CLIENT_SECRET)
    ):
        return error(401, "AUTHENTICATION_FAILED", "Нэвтрэх нэр эсвэл нууц үг буруу")
    return JsonResponse(services.issue_tokens(username))


@api("auth_refresh", ("POST",), auth="refresh")
def auth_refresh(request):
    data = services.read_token(_bearer(request), "refresh")
    if data is None:
        return error(401, "AUTHENTICATION_FAILED", "Invalid or expired refresh token")
    return JsonResponse(services.issue_tokens(data["c"]))


# --- invoices -------------------------------------------------------------------------------


@api("invoice_create", ("POST",))
def invoice_create(request):
    body = _json_body(request)
    invoice_code = _text(body, "invoice_code", 45)
    if not constant_time_compare(invoice_code, settings.SANDBOX_QPAY_INVOICE_CODE):
        raise ApiError(400, "INVOICE_CODE_INVALID", "Нэхэмжлэлийн код буруу")
    sender_invoice_no = _text(body, "sender_invoice_no", 45)
    receiver_code = _text(body, "invoice_receiver_code", 45)
    description = _text(body, "invoice_description", 255)
    callback_url = _text(body, "callback_url", 255)
    if not callback_url.startswith(("http://", "https://")):
        raise ApiError(400, "OBJECT_DATA_ERROR", "callback_url must be an http(s) URL")
    note = _text(body, "note", 1000, required=False)
    lines = body.get("lines") or []
    if not isinstance(lines, list):
        raise ApiError(400, "OBJECT_DATA_ERROR", "lines must be a list")
    lines_total = Decimal("0")
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            raise ApiError(400, "OBJECT_DATA_ERROR", f"lines[{index}] must be an object")
        _text(line, "line_description", 255)
        quantity = _amount(line.get("line_quantity"), f"lines[{index}].line_quantity")
        unit_price = _amount(line.get("line_unit_price"), f"lines[{index}].line_unit_price", allow_zero=True)
        lines_total += quantity * unit_price
    if body.get("amount") is None:
        if not lines:
            raise ApiError(400, "INVALID_AMOUNT", "amount or lines is required")
        amount = lines_total
    else:
        amount = _amount(body["amount"], "amount")
        if lines and lines_total != amount:
            raise ApiError(400, "INVALID_AMOUNT", f"lines total {lines_total} does not match amount {amount}")
    if amount <= 0:
        raise ApiError(400, "INVALID_AMOUNT", "amount must be positive")
    invoice = SandboxInvoice(
        invoice_code=invoice_code,
        sender_invoice_no=sender_invoice_no,
        invoice_receiver_code=receiver_code,
        invoice_description=description,
        amount=amount,
        callback_url=callback_url,
        lines=lines,
        note=note,
    )
    invoice.qr_text = services.emv_qr_text(invoice.invoice_id, amount)
    invoice.save(force_insert=True)
    return JsonResponse(
        {
            "invoice_id": str(invoice.invoice_id),
            "qr_text": invoice.qr_text,
            "qr_image": services.qr_png_base64(invoice.qr_text),
            "qPay_shortUrl": request.build_absolute_uri(reverse("sandbox_qpay:bank", args=[invoice.invoice_id])),
            "urls": services.bank_urls(invoice.qr_text, base_url=request.build_absolute_uri("/")),
        }
    )


@api("invoice_detail", ("GET", "DELETE"))
def invoice_detail(request, invoice_id):
    invoice = _get_invoice(invoice_id)
    if request.method == "DELETE":
        if invoice.status == SandboxInvoice.Status.CANCELED:
            raise ApiError(400, "INVOICE_ALREADY_CANCELED", "Нэхэмжлэл цуцлагдсан байна")
        if invoice.status == SandboxInvoice.Status.CLOSED:
            raise ApiError(400, "INVOICE_PAID", "Нэхэмжлэл төлөгдсөн байна")
        invoice.status = SandboxInvoice.Status.CANCELED
        invoice.save(update_fields=["status", "updated_at"])
        return JsonResponse({})
    lines = invoice.lines or [
        {
            "line_description": invoice.invoice_description,
            "line_quantity": "1.00",
            "line_unit_price": money(invoice.amount),
            "note": "",
            "discounts": [],
            "surcharges": [],
            "taxes": [],
        }
    ]
    # Mixed types on purpose, as production sends them (docs/providers/qpay.md, Amounts and statuses).
    return JsonResponse(
        {
            "invoice_id": str(invoice.invoice_id),
            "invoice_status": invoice.status,
            "sender_invoice_no": invoice.sender_invoice_no,
            "sender_branch_code": None,
            "invoice_description": invoice.invoice_description,
            "invoice_due_date": None,
            "enable_expiry": False,
            "expiry_date": invoice.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "allow_partial": False,
            "minimum_amount": "0.00",
            "allow_exceed": False,
            "maximum_amount": None,
            "total_amount": money(invoice.amount),
            "gross_amount": number(invoice.amount),
            "tax_amount": 0,
            "surcharge_amount": 0,
            "discount_amount": 0,
            "callback_url": invoice.callback_url,
            "note": invoice.note or None,
            "lines": lines,
            "transactions": [],
            "inputs": [],
        }
    )


# --- payments -------------------------------------------------------------------------------


def _p2p_transactions(payment: SandboxPayment) -> list:
    if payment.payment_type != SandboxPayment.Type.P2P:
        return []
    return [
        {
            "transaction_bank_code": "050000",
            "account_bank_code": "050000",
            "account_bank_name": "Хаан банк",
            "account_number": "50******12",
            "status": "SUCCESS",
            "amount": money(payment.amount),
            "currency": "MNT",
            "settlement_status": "SETTLED",
        }
    ]


def _card_transactions(payment: SandboxPayment) -> list:
    if payment.payment_type != SandboxPayment.Type.CARD:
        return []
    return [
        {
            "card_type": "VISA",
            "is_cross_border": False,
            "amount": money(payment.amount),
            "currency": "MNT",
            "date": payment.created_at.isoformat(),
            "status": "SUCCESS",
            "settlement_status": "PENDING",
            "settlement_status_date": None,
        }
    ]


def _check_row(payment: SandboxPayment) -> dict:
    return {
        "payment_id": payment.payment_id,
        "payment_status": payment.status,
        "payment_amount": money(payment.amount),
        "trx_fee": "0.00",
        "payment_currency": "MNT",
        "payment_wallet": payment.wallet,
        "payment_type": payment.payment_type,
        "next_payment_date": None,
        "next_payment_datetime": None,
        "card_transactions": _card_transactions(payment),
        "p2p_transactions": _p2p_transactions(payment),
    }


@api("payment_check", ("POST",))
def payment_check(request):
    body = _json_body(request)
    object_type = _text(body, "object_type", 16)
    if object_type not in ("INVOICE", "QR", "ITEM"):
        raise ApiError(400, "INVALID_OBJECT_TYPE", "object_type must be INVOICE, QR or ITEM")
    object_id = _text(body, "object_id", 64)
    page, limit = _offset(body)
    payments = SandboxPayment.objects.none()
    if object_type == "INVOICE":
        payments = SandboxPayment.objects.filter(invoice_id=_uuid_or_none(object_id))
    rows = list(payments.order_by("created_at"))
    response = {"count": len(rows), "rows": [_check_row(p) for p in rows[(page - 1) * limit : page * limit]]}
    if rows:  # absent, not 0, when nothing was paid (docs/providers/qpay.md, Payment check)
        response["paid_amount"] = number(sum((p.amount for p in rows if p.status == "PAID"), Decimal("0")))
    return JsonResponse(response)


@api("payment_detail", ("GET",))
def payment_detail(request, payment_id):
    payment = _get_payment(payment_id)
    return JsonResponse(
        {
            "payment_id": payment.payment_id,
            "payment_status": payment.status,
            "payment_fee": "0.00",
            "payment_amount": money(payment.amount),
            "payment_currency": "MNT",
            "payment_date": payment.created_at.isoformat(),
            "payment_wallet": payment.wallet,
            "object_type": "INVOICE",
            "object_id": str(payment.invoice_id),
            "next_payment_date": None,
            "next_payment_datetime": None,
            "transaction_type": payment.payment_type,
            "card_transactions": _card_transactions(payment),
            "p2p_transactions": _p2p_transactions(payment),
        }
    )


@api("payment_list", ("POST",))
def payment_list(request):
    body = _json_body(request)
    object_type = _text(body, "object_type", 16)
    if object_type not in ("MERCHANT", "INVOICE", "QR"):
        raise ApiError(400, "INVALID_OBJECT_TYPE", "object_type must be MERCHANT, INVOICE or QR")
    # Real clients (qpay-go) send MERCHANT with the merchant id; some also send branch/terminal/
    # staff codes and start_date/end_date, unverified filters the sandbox accepts and ignores.
    object_id = _text(body, "object_id", 64)
    page, limit = _offset(body)
    payments = SandboxPayment.objects.select_related("invoice").order_by("-created_at")
    if object_type == "MERCHANT" and object_id != services.merchant_id():
        raise ApiError(422, "MERCHANT_NOTFOUND", "Мерчант олдсонгүй")
    if object_type == "INVOICE":
        payments = payments.filter(invoice_id=_uuid_or_none(object_id))
    elif object_type == "QR":
        payments = payments.none()
    total = payments.count()
    rows = [
        {
            "payment_id": p.payment_id,
            "payment_date": p.created_at.isoformat(),
            "payment_status": p.status,
            "payment_fee": "0.00",
            "payment_amount": money(p.amount),
            "payment_currency": "MNT",
            "payment_wallet": p.wallet,
            "payment_name": p.invoice.invoice_description,
            "payment_description": p.invoice.invoice_description,
            "qr_code": p.invoice.qr_text,
            "paid_by": p.payment_type,
            "object_type": "INVOICE",
            "object_id": str(p.invoice_id),
        }
        for p in payments[(page - 1) * limit : page * limit]
    ]
    return JsonResponse({"count": total, "rows": rows})


def _undo_payment(request, payment_id, verb: str):
    body = _json_body(request, required=False)
    _text(body, "callback_url", 255, required=False)
    _text(body, "note", 255, required=False)
    payment = _get_payment(payment_id)
    if payment.status == SandboxPayment.Status.REFUNDED:
        raise ApiError(400, "PAYMENT_ALREADY_CANCELED", "Гүйлгээ буцаагдсан байна")
    if payment.status != SandboxPayment.Status.PAID:
        raise ApiError(400, "PAYMENT_NOT_PAID", "Гүйлгээ төлөгдөөгүй байна")
    if payment.payment_type != SandboxPayment.Type.CARD:
        # "АНХААРУУЛГА! Картын гүйлгээний үед л буцаах боломжтой" — only card payments can be
        # returned through the API; the exact error code for P2P is unrecorded (our choice).
        raise ApiError(400, "PAYMENT_SETTLED", f"Зөвхөн картын гүйлгээг {verb} боломжтой")
    payment.status = SandboxPayment.Status.REFUNDED
    payment.save(update_fields=["status"])
    return JsonResponse({})


@api("payment_cancel", ("DELETE",))
def payment_cancel(request, payment_id):
    return _undo_payment(request, payment_id, "цуцлах")


@api("payment_refund", ("DELETE",))
def payment_refund(request, payment_id):
    return _undo_payment(request, payment_id, "буцаах")


# --- e-barimt v3 ------------------------------------------------------------------------------


def _ebarimt_json(receipt: SandboxEbarimt) -> dict:
    """The response shape recorded in QPay's examples (docs/providers/qpay.md, E-barimt): VAT 10 % included."""
    payment = receipt.payment
    amount = Decimal(payment.amount)
    vat = (amount / Decimal(11)).quantize(Decimal("0.01"))
    phone = receipt.receiver if receipt.receiver_type == "CITIZEN" else ""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-ebarimt-{payment.payment_id}")),
        "ebarimt_by": "QPAY",
        "g_wallet_id": None,
        "g_wallet_customer_id": None,
        "ebarimt_receiver_type": receipt.receiver_type,
        "ebarimt_receiver": receipt.receiver or None,
        "ebarimt_district_code": receipt.district_code or None,
        "ebarimt_bill_type": None,
        "g_merchant_id": None,
        "merchant_branch_code": None,
        "merchant_terminal_code": None,
        "merchant_staff_code": None,
        "merchant_register_no": "5395305",
        "g_payment_id": payment.payment_id,
        "paid_by": payment.payment_type,
        "object_type": "INVOICE",
        "object_id": str(payment.invoice_id),
        "amount": money(amount),
        "vat_amount": money(vat),
        "city_tax_amount": "0.00",
        "ebarimt_qr_data": services.ebarimt_qr_data(receipt),
        "ebarimt_lottery": receipt.lottery,
        "note": None,
        "barimt_status": receipt.status,
        "barimt_status_date": receipt.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        "ebarimt_sent_email": None,
        "ebarimt_receiver_phone": (phone[:2] + "*" + phone[3:5] + "*" + phone[6:]) if len(phone) == 8 else None,
        "tax_type": "1",
        "merchant_tin": "31100000000",
        "ebarimt_receipt_id": receipt.receipt_id,
        "created_by": "sandbox",
        "created_date": receipt.created_at.isoformat(),
        "updated_by": "sandbox",
        "updated_date": receipt.updated_at.isoformat(),
        "status": True,
    }


@api("ebarimt_create", ("POST",))
def ebarimt_create(request):
    body = _json_body(request)
    payment_id = _text(body, "payment_id", 64)
    receiver_type = _text(body, "ebarimt_receiver_type", 16)
    if receiver_type not in ("CITIZEN", "COMPANY"):
        raise ApiError(400, "OBJECT_DATA_ERROR", "ebarimt_receiver_type must be CITIZEN or COMPANY")
    receiver = _text(body, "ebarimt_receiver", 32, required=receiver_type == "COMPANY")
    if receiver_type == "COMPANY" and not (receiver.isdigit() and len(receiver) == 7):
        raise ApiError(400, "CUSTOMER_REGISTER_INVALID", "Байгууллагын регистрийн дугаар буруу")
    if receiver_type == "CITIZEN" and receiver and not (receiver.isdigit() and len(receiver) == 8):
        raise ApiError(400, "OBJECT_DATA_ERROR", "ebarimt_receiver must be an 8-digit phone number for CITIZEN")
    district = _text(body, "district_code", 8, required=False)
    classification = _text(body, "classification_code", 16, required=False)
    if not settings.SANDBOX_QPAY_EBARIMT_REGISTERED:
        raise ApiError(400, "EBARIMT_NOT_REGISTERED", "Ибаримт үйлчилгээнд бүртгэлгүй байна")
    payment = _get_payment(payment_id)
    if payment.status != SandboxPayment.Status.PAID:
        raise ApiError(400, "PAYMENT_NOT_PAID", "Гүйлгээ төлөгдөөгүй байна")
    receipt, _created = services.register_ebarimt(
        payment,
        receiver_type=receiver_type,
        receiver=receiver,
        district_code=district,
        classification_code=classification,
    )
    if receipt.status == SandboxEbarimt.Status.CANCELED:
        raise ApiError(400, "EBARIMT_CANCEL_NOTSUPPERDED", "Ибаримт цуцлагдсан байна")
    return JsonResponse(_ebarimt_json(receipt))


@api("ebarimt_cancel", ("DELETE",))
def ebarimt_cancel(request, payment_id):
    payment = _get_payment(payment_id)
    receipt = SandboxEbarimt.objects.filter(payment=payment).first()
    if receipt is None:
        raise ApiError(422, "INFORM_NOTFOUND", "Ибаримт олдсонгүй")
    if receipt.status != SandboxEbarimt.Status.CANCELED:
        receipt.status = SandboxEbarimt.Status.CANCELED
        receipt.save(update_fields=["status", "updated_at"])
    return JsonResponse(_ebarimt_json(receipt))


@csrf_exempt
def unknown(request, path=""):
    return error(404, "NOT_FOUND", f"/{path} not found")


# --- the "bank app" -----------------------------------------------------------------------------


def bank(request, invoice_id):
    """A person paying: in full, too little, or twice; card or bank app. Sandbox only."""
    try:
        invoice = _get_invoice(invoice_id)
    except ApiError as exc:
        raise Http404 from exc
    return_url = request.GET.get("return") or request.POST.get("return") or ""
    if not url_has_allowed_host_and_scheme(return_url, allowed_hosts={request.get_host()}):
        return_url = ""
    message = ""
    if request.method == "POST":
        action = request.POST.get("action")
        payment_type = request.POST.get("payment_type")
        if payment_type not in SandboxPayment.Type.values:
            payment_type = SandboxPayment.Type.P2P
        if action == "short":
            amount = max(Decimal("1"), (invoice.amount / 2).quantize(Decimal("1")))
        else:
            amount = invoice.amount
        try:
            payment = services.pay(
                invoice.pk, amount=amount, payment_type=payment_type, allow_cancelled=action == "after_cancel"
            )
        except ApiError as exc:
            message = exc.message
        else:
            url = reverse("sandbox_qpay:bank", args=[invoice.pk])
            query = f"?paid={payment.payment_id}" + (f"&return={return_url}" if return_url else "")
            return redirect(url + query)
    invoice.refresh_from_db()
    payments = list(invoice.payments.all())
    return render(
        request,
        "sandbox_qpay/bank.html",
        {
            "invoice": invoice,
            "payments": payments,
            "paid_total": sum((p.amount for p in payments if p.status == "PAID"), Decimal("0")),
            "half": max(Decimal("1"), (invoice.amount / 2).quantize(Decimal("1"))),
            "return_url": return_url,
            "message": message,
            "just_paid": request.GET.get("paid", ""),
            "title": _("Sandbox bank app"),
        },
    )
