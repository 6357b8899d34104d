"""E-mail content and the once-only send of a claimed EmailLog row.

Every shopper e-mail has a plain-text and an HTML part, rendered in the order's language.
The "eSIM ready" e-mail carries the QR code as an inline CID image (mail clients block
data: URIs and remote images; a CID part always shows).
"""
import logging
from email.mime.image import MIMEImage

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from orders import conf, qr, selectors
from orders.models import EmailLog

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
        "topup_url": absolute(reverse("orders:topup", args=[order.public_id])),
        "my_esims_url": absolute(reverse("orders:my-esims")),
        "amount_mnt": order.invoice.amount_mnt,
        "site_url": conf.site_url(),
    }
    if order.esim_id:
        context.update(selectors.install_details(order.esim))
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
    """Send the claimed e-mail unless it was already sent. The row lock serialises concurrent runs.

    Returns True if this call sent it. Raises EmailSendError (after recording it) to be retried.
    """
    error = None
    with transaction.atomic():
        log = EmailLog.objects.select_for_update(of=("self",)).select_related("order__bundle", "order__invoice", "order__esim").get(pk=log_id)
        if log.status != EmailLog.Status.PENDING:
            return False
        log.attempts += 1
        try:
            build_message(log).send(fail_silently=False)
        except Exception as exc:  # noqa: BLE001 - SMTP/rendering errors are all "try again later"
            log.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            log.save(update_fields=["attempts", "last_error"])
            error = exc
        else:
            log.status = EmailLog.Status.SENT
            log.sent_at = timezone.now()
            log.save(update_fields=["attempts", "status", "sent_at"])
    if error is not None:
        logger.warning("e-mail %s (%s) failed: %s", log_id, log.kind, error)
        raise EmailSendError(str(error)) from error
    logger.info("e-mail %s sent: %s for order %s", log_id, log.kind, log.order.public_id)
    return True


def mark_email_failed(log_id):
    EmailLog.objects.filter(pk=log_id, status=EmailLog.Status.PENDING).update(status=EmailLog.Status.FAILED)
