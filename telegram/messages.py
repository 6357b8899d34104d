"""What the bot says, in the shopper's language (Mongolian unless Telegram says English).

No message ever carries an activation code, LPA string or SM-DP+ address: chats are synced to
every device and backed up; the code stays on the eSIM page, which the button opens inside the
Mini App (`web_app` buttons only work in private chats, which is where the bot talks).
"""

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from orders import selectors as order_selectors
from telegram.models import BotMessage


def mini_app_url(next_path: str = "") -> str:
    """The Mini App entry (it validates initData, then goes to `next_path` on our site)."""
    url = f"{settings.SITE_URL}{reverse('telegram:app')}"
    return f"{url}?{urlencode({'next': next_path})}" if next_path else url


def _web_app_button(text: str, next_path: str = "") -> dict:
    return {"inline_keyboard": [[{"text": text, "web_app": {"url": mini_app_url(next_path)}}]]}


def render(message: BotMessage) -> tuple[str, dict]:
    """(text, reply_markup) for a bot message, rendered in its recipient's language."""
    with translation.override(message.telegram_user.language):
        return _render(message)


def _render(message: BotMessage) -> tuple[str, dict]:
    kind, order = message.kind, message.order
    if kind == BotMessage.Kind.WELCOME:
        return (
            _("Travel eSIMs for your trip, paid in tugrik with QPay. Open the shop to choose a plan."),
            _web_app_button(_("Open the shop")),
        )
    plan = order_selectors.bundle_label(order.bundle)
    my_esims = reverse("telegram:my-esims")
    if kind == BotMessage.Kind.ESIM_READY:
        if order.kind == order.Kind.TOPUP:
            text = _("Your top-up is ready: %(plan)s.") % {"plan": plan}
        else:
            text = _(
                "Your eSIM is ready: %(plan)s. Open it to install; the activation code is only on "
                "the eSIM page, never in this chat."
            ) % {"plan": plan}
        return text, _web_app_button(_("Open my eSIM"), order.get_absolute_url())
    topup = reverse("orders:topup", args=[order.access_token])
    if kind == BotMessage.Kind.USAGE_80:
        return (_("You have used 80%% of your data: %(plan)s.") % {"plan": plan}, _web_app_button(_("Top up"), topup))
    if kind == BotMessage.Kind.USAGE_100:
        return (_("You have used all your data: %(plan)s.") % {"plan": plan}, _web_app_button(_("Top up"), topup))
    if kind == BotMessage.Kind.REFUNDED:
        return (
            _("Your payment of %(amount)s₮ for %(plan)s was refunded.")
            % {"amount": f"{order.invoice.amount_mnt:,}", "plan": plan},
            _web_app_button(_("My eSIMs"), my_esims),
        )
    raise ValueError(f"no text for bot message kind {kind!r}")
