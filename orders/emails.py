"""E-mail content and the once-only send of a claimed EmailLog row.

Every shopper e-mail has a plain-text and an HTML part, rendered in the order's language.
The "eSIM ready" e-mail carries the QR code as an inline CID image (mail clients block
data: URIs and remote images; a CID part always shows).
"""

import logging
from email.mime.image import MIMEImage

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from esimshop.state_machine import try_transition, try_transition_each
from orders import conf, qr, selectors
from orders.models import EmailLog
from payments.ebarimt import shopper_receipt

logger = logging.getLogger(__name__)

QR_CONTENT_ID = "esim-qr"


class EmailSendError(Exception):
    pass


def absolute(path: str) -> str:
    return f"{conf.site_url()}{path}"


def _subject(kind, order) -> str:
    label = selectors.bundle_label(order.bundle)
    subjects = {
        EmailLog.Kind.PAYMENT_RECEIVED: _("Payment received: %(plan)s"),
        EmailLog.Kind.ESIM_READY: (
            _("Your top-up is ready: %(plan)s") if order.kind == order.Kind.TOPUP else _("Your eSIM is ready: %(plan)s")
        ),
        EmailLog.Kind.PROVISIONING_DELAYED: _("Your eSIM is taking a little longer: %(plan)s"),
        EmailLog.Kind.USAGE_80: _("You have used 80%% of your data: %(plan)s"),
        EmailLog.Kind.USAGE_100: _("You have used all your data: %(plan)s"),
    }
    return subjects[kind] % {"plan": label}


def order_context(order) -> dict:
    context = {
        "order": order,
        "plan": selectors.bundle_label(order.bundle),
        "esim_url": absolute(order.get_absolute_url()),
        "topup_url": absolute(reverse("orders:topup", args=[order.access_token])),
        "my_esims_url": absolute(reverse("orders:my-esims")),
        "amount_mnt": order.invoice.amount_mnt,
        "site_url": conf.site_url(),
    }
    if order.esim_id:
        context.update(selectors.install_details(order.esim))
    context["ebarimt"] = shopper_receipt(order.invoice)
    return context


def build_message(log) -> EmailMultiAlternatives:
    order = log.order
    if log.kind == EmailLog.Kind.STAFF_ALERT:
        return _staff_alert(log)
    with translation.override(order.language or settings.LANGUAGE_CODE):
        context = order_context(order)
        context["qr_cid"] = QR_CONTENT_ID
        subject = _subject(log.kind, order)
        text = render_to_string(f"orders/email/{log.kind}.txt", context)
        html = render_to_string(f"orders/email/{log.kind}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, _addresses(log.to))
    message.attach_alternative(html, "text/html")
    if log.kind == EmailLog.Kind.ESIM_READY and order.esim_id and order.kind == order.Kind.NEW:
        message.mixed_subtype = "related"
        image = MIMEImage(qr.png(context["lpa"]), _subtype="png")
        image.add_header("Content-ID", f"<{QR_CONTENT_ID}>")
        image.add_header("Content-Disposition", "inline", filename="esim-qr.png")
        message.attach(image)
    return message


def _addresses(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _staff_alert(log) -> EmailMultiAlternatives:
    order = log.order
    admin_path = reverse("admin:orders_order_change", args=[order.pk])
    body = (
        f"Order {order.public_id} needs attention.\n\n"
        f"Status: {order.status}\nKind: {order.kind}\nBundle: {order.bundle.name}\n"
        f"Invoice: {order.invoice_id} ({order.invoice.amount_mnt} MNT)\n"
        f"eSIM Go order reference: {order.esimgo_order_reference or '-'}\n"
        f"Event: {log.event_key}\nReason: {order.attention_reason or '-'}\n\n"
        f"Admin: {absolute(admin_path)}\n"
    )
    subject = f"[esimshop] order {order.public_id} needs attention"
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, _addresses(log.to))
    message.attach_alternative(f"<pre>{_escape(body)}</pre>", "text/html")
    return message


def _escape(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


def send_logged_email(log_id) -> bool:
    """Send the claimed e-mail unless it was already sent. Returns True if this call sent it.

    A conditional UPDATE (PENDING → SENDING) picks exactly one sender however many workers run
    it at once, on any database; no transaction stays open while the mail server is talked to.
    On failure the row goes back to PENDING (error recorded) and EmailSendError is raised so
    the task retries. A worker killed mid-send leaves SENDING; the sweep re-opens it later.
    """
    claimed = try_transition(
        EmailLog, log_id, "claim", by="task", claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    log = EmailLog.objects.select_related("order__bundle", "order__invoice", "order__esim", "order__customer").get(
        pk=log_id
    )
    try:
        build_message(log).send(fail_silently=False)
    except Exception as exc:  # noqa: BLE001 - SMTP/rendering errors are all "try again later"
        try_transition(EmailLog, log_id, "release", by="task", last_error=f"{type(exc).__name__}: {exc}"[:2000])
        logger.warning("e-mail %s (%s) failed: %s", log_id, log.kind, exc)
        raise EmailSendError(str(exc)) from exc
    try_transition(EmailLog, log_id, "mark_sent", by="task", sent_at=timezone.now())
    logger.info("e-mail %s sent: %s for order %s", log_id, log.kind, log.order.public_id)
    return True


def reopen_stuck_emails(older_than) -> int:
    """SENDING rows whose worker died mid-send go back to PENDING (at worst one duplicate mail)."""
    return try_transition_each(
        EmailLog.objects.filter(status=EmailLog.Status.SENDING, claimed_at__lt=older_than), "reopen", by="sweep"
    )


def mark_email_failed(log_id):
    try_transition(EmailLog, log_id, "give_up", by="task", reason="retries exhausted")
