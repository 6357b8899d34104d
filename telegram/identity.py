"""Who the Mini App shopper is: initData validated server side, then bound to the Django session.

The session, never the client, says "this is Telegram user N" afterwards. Replay: each initData
(by its hash) binds one session only; the same session presenting it again (a reload of the
entry page) is fine and writes nothing.
"""

import logging
from datetime import datetime
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from telegram import init_data
from telegram.models import InitDataUse, TelegramPurchase, TelegramUser

logger = logging.getLogger(__name__)

SESSION_USER = "telegram_user_id"
SESSION_INIT_HASH = "telegram_init_hash"
SESSION_BOUND_AT = "telegram_bound_at"
USER_FIELDS = {"first_name": 255, "last_name": 255, "username": 64, "language_code": 16}


class Refused(Exception):
    """initData we will not accept (403); `reason` is safe to show."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def enabled() -> bool:
    return bool(settings.TELEGRAM_BOT_TOKEN)


def bind_session(request, raw: str) -> TelegramUser:
    """Validate `raw` initData and tie the session to its Telegram user. Raises Refused."""
    try:
        data = init_data.validate(
            raw, settings.TELEGRAM_BOT_TOKEN, max_age_seconds=settings.TELEGRAM_INIT_DATA_MAX_AGE_SECONDS
        )
    except init_data.InvalidInitData as exc:
        raise Refused(exc.reason) from None
    if request.session.get(SESSION_INIT_HASH) == data.hash:
        user = TelegramUser.objects.filter(pk=request.session.get(SESSION_USER)).first()
        if user is not None:
            return user
    try:
        with transaction.atomic():
            user = _upsert_user(data.user)
            InitDataUse.objects.create(
                hash=data.hash,
                telegram_user=user,
                auth_date=datetime.fromtimestamp(data.auth_date, tz=dt_timezone.utc),
            )
    except IntegrityError:
        # The whole transaction rolled back: a replay writes nothing, not even the user's name.
        logger.warning("Telegram initData replayed from another session (user %s)", data.user.get("id"))
        raise Refused("this sign-in was already used: please reopen the shop from the bot") from None
    if request.session.get(SESSION_USER) not in (None, user.pk):
        request.session.flush()  # another Telegram account on this device: nothing of the previous one carries over
    else:
        request.session.cycle_key()  # a new session id on sign-in (no fixation)
    request.session[SESSION_USER] = user.pk
    request.session[SESSION_INIT_HASH] = data.hash
    request.session[SESSION_BOUND_AT] = timezone.now().isoformat()
    return user


def _upsert_user(user: dict) -> TelegramUser:
    values = {name: str(user.get(name) or "")[:limit] for name, limit in USER_FIELDS.items()}
    row, _created = TelegramUser.objects.update_or_create(telegram_id=user["id"], defaults=values)
    return row


def current_user(request) -> TelegramUser | None:
    session = getattr(request, "session", None)
    user_id = session.get(SESSION_USER) if session is not None else None
    if not user_id or not enabled():
        return None
    return TelegramUser.objects.filter(pk=user_id).first()


def link_invoice(request, invoice) -> TelegramPurchase | None:
    """Record that `invoice` was started inside the Mini App by the session's Telegram user.

    Only an invoice created after this session was bound can be its own: checkout hands back an
    already open invoice for the same phone + e-mail, which may be a web shopper's; linking that
    would show a stranger's eSIM in this Telegram account.
    """
    user = current_user(request)
    if user is None:
        return None
    bound_at = request.session.get(SESSION_BOUND_AT)
    if not bound_at or invoice.created_at < datetime.fromisoformat(bound_at):
        logger.info("invoice %s predates the Telegram session: not linked to Telegram user %s", invoice.pk, user.pk)
        return None
    with transaction.atomic():
        link, _created = TelegramPurchase.objects.get_or_create(invoice=invoice, defaults={"telegram_user": user})
    return link if link.telegram_user_id == user.pk else None


def user_for_order(order) -> TelegramUser | None:
    link = TelegramPurchase.objects.select_related("telegram_user").filter(invoice_id=order.invoice_id).first()
    return link.telegram_user if link else None


def save_verified_contact(message: dict) -> TelegramUser | None:
    """A contact the user shared with the bot (requestContact). Only their own number counts:
    contact.user_id must be the sender, which Telegram sets and a client cannot forge."""
    contact, sender = message.get("contact") or {}, message.get("from") or {}
    if not isinstance(contact, dict) or not isinstance(sender, dict):
        return None
    if not isinstance(sender.get("id"), int) or contact.get("user_id") != sender.get("id"):
        return None
    phone = "".join(ch for ch in str(contact.get("phone_number") or "") if ch.isdigit())[:32]
    if not phone:
        return None
    user = _upsert_user(sender)
    TelegramUser.objects.filter(pk=user.pk).update(phone_number=phone, phone_verified_at=timezone.now())
    return user


def checkout_phone(user: TelegramUser | None) -> str:
    """The 8-digit Mongolian number of a verified contact (+976 dropped), else ''."""
    if user is None or not user.phone_verified_at:
        return ""
    digits = user.phone_number
    if len(digits) == 11 and digits.startswith("976"):
        digits = digits[3:]
    return digits if len(digits) == 8 else ""
