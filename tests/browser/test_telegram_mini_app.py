"""A shopper inside Telegram, on a phone, in real Chromium: /start the sandbox bot, open its web_app
button (initData signed with the bot token), follow Telegram's theme, Buy and Pay with Telegram's
Main button, prefill the phone from the contact shared with the bot, pay in the sandbox bank app,
land on the eSIM page; the sandbox Bot API has recorded exactly one "eSIM ready" message to that
user (without the activation code); its button reopens the eSIM and My eSIMs in the Mini App lists it."""

import re

import pytest

from orders.models import Order
from payments.models import Invoice
from sandbox.telegram.models import SandboxBotCall
from telegram.models import TelegramPurchase
from tests.browser.conftest import PHONE, Watch, wait_for

# The payment page URL carries the invoice's access token (secrets.token_urlsafe(32)), not its id.
PAY_TOKEN = r"[A-Za-z0-9_-]{40,}"

pytestmark = [pytest.mark.slow]

BUNDLE = "esim_1GB_7D_MN_V2"
USER_ID = 700000123


@pytest.fixture
def telegram_shop(shop, settings):
    settings.TELEGRAM_BOT_TOKEN = settings.SANDBOX_TELEGRAM_BOT_TOKEN
    settings.TELEGRAM_WEBHOOK_SECRET = settings.SANDBOX_TELEGRAM_WEBHOOK_SECRET
    settings.TELEGRAM_BOT_API_BASE_URL = shop.url + "/sandbox/telegram"
    settings.TELEGRAM_SANDBOX = True
    return shop


def bot_messages_to(chat_id):
    return list(SandboxBotCall.objects.filter(method="sendMessage", chat_id=chat_id).order_by("id"))


def test_buy_inside_the_telegram_mini_app(telegram_shop, browser, screens):
    base = telegram_shop.url
    watch = Watch(base)
    phone = watch.attach(browser.new_context(**PHONE))
    page = phone.new_page()

    # 1. The pretend Telegram app: /start → the bot answers with a web_app button.
    page.goto(f"{base}/sandbox/telegram/?user_id={USER_ID}&first_name=Bat&language_code=en")
    page.click("#send-start")
    page.wait_for_selector(".bubble .web-app-button")
    screens(page, "01-bot-chat")
    welcome = bot_messages_to(USER_ID)
    assert len(welcome) == 1 and welcome[0].payload["reply_markup"]["inline_keyboard"][0][0]["web_app"]["url"] == (
        base + "/telegram/app/"
    )

    # 2. The button opens the Mini App: initData checked by the server, then the storefront.
    page.click(".bubble .web-app-button")
    page.wait_for_url(f"{base}/")
    assert (
        page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--tg-theme-bg-color')") == "#17212b"
    )
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(23, 33, 43)"
    screens(page, "02-mini-app-home")

    # 3. A plan: Telegram's Back button shows, the Main button says Buy.
    page.goto(f"{base}/bundles/{BUNDLE}/")
    main_button = page.locator(".tg-sandbox-main-button")
    main_button.wait_for(state="visible")
    assert "Buy" in main_button.inner_text() or "₮" in main_button.inner_text()
    assert page.locator(".tg-sandbox-back-button").is_visible()
    screens(page, "03-bundle")
    main_button.click()
    page.wait_for_url(f"{base}/checkout/{BUNDLE}/")

    # 4. Checkout: share the contact with the bot → the verified phone is filled in; e-mail still asked.
    page.locator(".tg-share-contact").click()
    wait_for(lambda: page.input_value("input[name=phone_number]") == "99112233", what="the phone from the contact")
    page.fill("input[name=email]", "bat@example.mn")
    page.check("input[name=device_confirmed]")  # "my phone takes an eSIM" (issue 13)
    screens(page, "04-checkout")
    page.locator(".tg-sandbox-main-button").wait_for(state="visible")
    page.locator(".tg-sandbox-main-button").click()  # Pay
    page.wait_for_url(re.compile(rf"{re.escape(base)}/pay/{PAY_TOKEN}/$"))
    invoice_id = Invoice.objects.get(access_token=page.url.rstrip("/").rsplit("/", 1)[-1]).pk
    assert TelegramPurchase.objects.filter(invoice_id=invoice_id, telegram_user__telegram_id=USER_ID).exists()
    screens(page, "05-payment", full_page=True)

    # 5. The sandbox bank app (another app on the phone) → pay in full → the eSIM page.
    bank = phone.new_page()
    bank.goto(base + page.get_attribute(".sandbox-pay a", "href"))
    bank.click("button[name=action][value=full]")
    page.bring_to_front()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/esims/{PAY_TOKEN}/$"), timeout=30000)
    bank.close()
    order = Order.objects.select_related("esim").get(invoice_id=invoice_id)
    assert order.status == Order.Status.DELIVERED
    screens(page, "06-esim-page", full_page=True)

    # 6. Exactly one "eSIM ready" message to that user, with a button and no activation code.
    ready = [call for call in bot_messages_to(USER_ID) if call.text.startswith("Your eSIM is ready")]
    assert len(ready) == 1, [call.text for call in bot_messages_to(USER_ID)]
    assert order.esim.matching_id not in str(ready[0].payload) and order.esim.smdp_address not in str(ready[0].payload)

    # 7. Its button (in the chat) reopens the eSIM inside the Mini App; My eSIMs lists it.
    page.goto(f"{base}/sandbox/telegram/?user_id={USER_ID}&first_name=Bat&language_code=en")
    page.click(".bubble:first-child .web-app-button")
    page.wait_for_url(base + order.get_absolute_url())
    page.goto(f"{base}/telegram/my-esims/")
    card = page.locator(".esim-card", has_text=order.esim.iccid)
    assert card.count() == 1
    screens(page, "07-my-esims", full_page=True)
    assert len([c for c in bot_messages_to(USER_ID) if c.text.startswith("Your eSIM is ready")]) == 1

    watch.assert_clean()


def test_forged_init_data_is_refused_with_a_clear_message(telegram_shop, browser, screens, settings):
    from urllib.parse import quote

    from telegram import init_data
    from telegram.models import TelegramUser

    base = telegram_shop.url
    watch = Watch(base)
    page = watch.attach(browser.new_context(**PHONE)).new_page()
    forged = init_data.signed_for_user({"id": USER_ID, "first_name": "Bat"}, "1:some-other-bot")
    page.goto(f"{base}/telegram/app/#tgWebAppData={quote(forged, safe='')}&tgWebAppVersion=8.0")
    page.wait_for_selector("#tg-entry-error:not([hidden])")
    assert "not signed by our bot" in page.inner_text("#tg-entry-error")
    assert page.url.startswith(base + "/telegram/app/")
    screens(page, "forged")
    assert not TelegramUser.objects.filter(telegram_id=USER_ID).exists()
    # The browser logs the 403 as a console error; that one is expected, nothing else is.
    watch.errors = [e for e in watch.errors if "403" not in e]
    watch.assert_clean()
