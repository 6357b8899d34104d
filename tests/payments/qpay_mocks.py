"""`responses` helpers speaking QPay's real wire format at https://merchant.qpay.mn/v2."""

import json
import time
import uuid

import responses

BASE = "https://merchant.qpay.mn/v2"


def token_body(access="access-1", *, expires_in=None, refresh="refresh-1"):
    expires = expires_in if expires_in is not None else int(time.time()) + 86400  # absolute, like QPay
    return {
        "token_type": "bearer",
        "refresh_expires_in": expires,
        "refresh_token": refresh,
        "access_token": access,
        "expires_in": expires,
        "scope": "get_token",
        "not-before-policy": "0",
        "session_state": "prod_new",
    }


def add_token(rsps, access="access-1", **kwargs):
    return rsps.add(responses.POST, f"{BASE}/auth/token", json=token_body(access, **kwargs))


def invoice_created_body(invoice_id=None):
    invoice_id = invoice_id or str(uuid.uuid4())
    qr_text = "0002010102121531279404962794049600022210010212345678"
    return {
        "invoice_id": invoice_id,
        "qr_text": qr_text,
        "qr_image": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        "qPay_shortUrl": "https://s.qpay.mn/zNr4bs145B",
        "urls": [
            {
                "name": "qPay wallet",
                "description": "qPay хэтэвч",
                "logo": "https://s3.qpay.mn/p/e9bbdc69.png",
                "link": f"qpaywallet://q?qPay_QRcode={qr_text}",
            },
            {
                "name": "Khan bank",
                "description": "Хаан банк",
                "logo": "https://qpay.mn/q/logo/khanbank.png",
                "link": f"khanbank://q?qPay_QRcode={qr_text}",
            },
        ],
    }


def add_invoice_create(rsps, invoice_id=None):
    """Every POST /invoice gets a fresh invoice (as QPay does); returns the list of bodies sent."""
    created = []

    def answer(request):
        body = invoice_created_body(invoice_id)
        created.append(body)
        return 200, {}, json.dumps(body)

    rsps.upsert(responses.CallbackResponse(responses.POST, f"{BASE}/invoice", callback=answer))
    return created


def paid_row(amount="19500.00", *, payment_id=None, status="PAID", payment_type="P2P"):
    return {
        "payment_id": payment_id or str(10**14 + uuid.uuid4().int % (9 * 10**14)),
        "payment_status": status,
        "payment_amount": amount,
        "trx_fee": "0.00",
        "payment_currency": "MNT",
        "payment_wallet": "qPay wallet",
        "payment_type": payment_type,
        "next_payment_date": None,
        "next_payment_datetime": None,
        "card_transactions": [],
        "p2p_transactions": [],
    }


def check_body(*rows):
    body = {"count": len(rows), "rows": list(rows)}
    if rows:
        body["paid_amount"] = sum(float(r["payment_amount"]) for r in rows if r["payment_status"] == "PAID")
    return body


def add_check(rsps, *rows, status=200, body=None):
    return rsps.add(
        responses.POST, f"{BASE}/payment/check", json=body if body is not None else check_body(*rows), status=status
    )


def check_requests(rsps):
    return [json.loads(c.request.body) for c in rsps.calls if c.request.url.endswith("/payment/check")]


def calls_to(rsps, suffix, method=None):
    return [
        c
        for c in rsps.calls
        if c.request.url.split("?")[0].endswith(suffix) and (method is None or c.request.method == method)
    ]
