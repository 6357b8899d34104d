"""The sandbox Telegram Bot API and a pretend Telegram client.

* POST /sandbox/telegram/bot<token>/<method>: the Bot API's wire format ({"ok": true, "result"}
  or {"ok": false, "error_code", "description"[, "parameters": {"retry_after"}]}), wrong token
  → 401. Every call is recorded (SandboxBotCall); sendMessage to a chat id listed in
  settings.SANDBOX_TELEGRAM_BLOCKED_CHATS answers 403 "bot was blocked by the user".
* /sandbox/telegram/: a chat with the bot for a test user: send /start, share the contact
  (updates POSTed to the shop's webhook with the secret header, as Telegram does), read the
  bot's messages, and open its web_app buttons with correctly signed initData.
Mounted only in sandbox mode (esimshop/urls.py), like the other sandboxes.
"""

import json
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from sandbox.telegram.models import SandboxBotCall, SandboxUpdateCounter, SandboxWebhook
from telegram import init_data

BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "esimshop sandbox bot", "username": "esimshop_sandbox_bot"}
THEME = {
    "bg_color": "#17212b",
    "text_color": "#f5f5f5",
    "hint_color": "#708499",
    "link_color": "#6ab3f3",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#232e3c",
}
DEFAULT_USER = {"id": 700000001, "first_name": "Bat", "username": "bat_sandbox", "language_code": "mn"}


def _fail(status: int, description: str, **parameters):
    body = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JsonResponse(body, status=status)


@csrf_exempt
def bot_method(request, token, method):
    if not constant_time_compare(token, settings.SANDBOX_TELEGRAM_BOT_TOKEN):
        return _fail(401, "Unauthorized")
    try:
        payload = json.loads(request.body or b"{}") if request.method == "POST" else request.GET.dict()
    except ValueError:
        return _fail(400, "Bad Request: can't parse JSON")
    if not isinstance(payload, dict):
        return _fail(400, "Bad Request: parameters must be an object")
    chat_id = payload.get("chat_id") if isinstance(payload.get("chat_id"), int) else None
    call = SandboxBotCall.objects.create(
        method=method, payload=payload, chat_id=chat_id, text=str(payload.get("text") or "")[:4096]
    )
    if method == "sendMessage":
        if chat_id is None:
            return _fail(400, "Bad Request: chat not found")
        if not str(payload.get("text") or "").strip():
            return _fail(400, "Bad Request: message text is empty")
        if chat_id in settings.SANDBOX_TELEGRAM_BLOCKED_CHATS:
            return _fail(403, "Forbidden: bot was blocked by the user")
        return JsonResponse(
            {
                "ok": True,
                "result": {
                    "message_id": call.pk,
                    "date": int(timezone.now().timestamp()),
                    "from": BOT_USER,
                    "chat": {"id": chat_id, "type": "private"},
                    "text": payload["text"],
                },
            }
        )
    if method == "setWebhook":
        url = str(payload.get("url") or "")
        SandboxWebhook.objects.update_or_create(
            pk=1, defaults={"url": url, "secret_token": str(payload.get("secret_token") or "")}
        )
        return JsonResponse({"ok": True, "result": True, "description": "Webhook was set"})
    if method == "getMe":
        return JsonResponse({"ok": True, "result": BOT_USER})
    return JsonResponse({"ok": True, "result": True})


def _next_update_id() -> int:
    with transaction.atomic():
        counter, _created = SandboxUpdateCounter.objects.select_for_update().get_or_create(pk=1)
        counter.last_update_id += 1
        counter.save(update_fields=["last_update_id"])
    return counter.last_update_id


def post_update(message: dict) -> requests.Response:
    """POST an Update to the shop's webhook the way Telegram does (secret header included)."""
    hook = SandboxWebhook.objects.filter(pk=1).first()
    url = hook.url if hook and hook.url else f"{settings.SITE_URL}{reverse('telegram:webhook')}"
    secret = hook.secret_token if hook and hook.url else settings.TELEGRAM_WEBHOOK_SECRET
    update = {"update_id": _next_update_id(), "message": message}
    return requests.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}, timeout=20)


def _user_from(data) -> dict:
    try:
        user_id = int(data.get("user_id") or DEFAULT_USER["id"])
    except ValueError:
        user_id = DEFAULT_USER["id"]
    return {
        "id": user_id,
        "first_name": (data.get("first_name") or DEFAULT_USER["first_name"])[:64],
        "username": (data.get("username") or "")[:32],
        "language_code": data.get("language_code") if data.get("language_code") in ("mn", "en") else "mn",
    }


def _message(user: dict, **content) -> dict:
    return {
        "message_id": _next_update_id(),
        "date": int(timezone.now().timestamp()),
        "from": {**user, "is_bot": False},
        "chat": {"id": user["id"], "type": "private"},
        **content,
    }


def signed_launch_url(user: dict, web_app_url: str) -> str:
    """The web_app URL with Telegram's launch parameters: initData signed with the bot token."""
    signed = init_data.signed_for_user(
        {**user, "allows_write_to_pm": True}, settings.TELEGRAM_BOT_TOKEN, query_id=f"sandbox{_next_update_id()}"
    )
    fragment = (
        f"tgWebAppData={quote(signed, safe='')}&tgWebAppVersion=8.0&tgWebAppPlatform=sandbox"
        f"&tgWebAppThemeParams={quote(json.dumps(THEME), safe='')}"
    )
    return f"{web_app_url}#{fragment}"


def chat(request):
    data = request.POST if request.method == "POST" else request.GET
    user = _user_from(data)
    query = f"?user_id={user['id']}&first_name={quote(user['first_name'])}&language_code={user['language_code']}"
    if request.method == "POST":
        try:
            return _act(request, user, query)
        except requests.RequestException as exc:
            return HttpResponse(
                f"The shop's webhook did not answer: {type(exc).__name__}", status=502, content_type="text/plain"
            )
    calls = SandboxBotCall.objects.filter(method="sendMessage", chat_id=user["id"]).order_by("-id")[:30]
    bubbles = [{"text": call.text, "buttons": _web_app_buttons(call.payload)} for call in calls]
    return render(
        request,
        "sandbox_telegram/chat.html",
        {
            "user": user,
            "bubbles": bubbles,
            "shop_url": f"{settings.SITE_URL}{reverse('telegram:app')}",
        },
    )


def _act(request, user: dict, query: str):
    """One of the chat page's buttons: /start, share the contact, or open a web_app URL signed."""
    action = request.POST.get("action")
    if action == "start":
        post_update(_message(user, text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}]))
    elif action == "contact":
        phone = "".join(ch for ch in request.POST.get("phone", "") if ch.isdigit())[:15] or "97699112233"
        post_update(
            _message(user, contact={"phone_number": phone, "first_name": user["first_name"], "user_id": user["id"]})
        )
    elif action == "open":
        return redirect(signed_launch_url(user, _own_url(request.POST.get("url", ""))))
    else:
        return HttpResponseBadRequest("unknown action")
    return redirect(reverse("sandbox_telegram:chat") + query)


def _web_app_buttons(payload: dict) -> list[dict]:
    rows = ((payload.get("reply_markup") or {}).get("inline_keyboard") or []) if isinstance(payload, dict) else []
    return [
        {"text": button.get("text", ""), "url": button["web_app"]["url"]}
        for row in rows
        if isinstance(row, list)
        for button in row
        if isinstance(button, dict) and isinstance(button.get("web_app"), dict) and button["web_app"].get("url")
    ]


def _own_url(url: str) -> str:
    """Only this shop's own pages are opened (the sandbox signs initData for whatever it opens)."""
    site = urlsplit(settings.SITE_URL)
    parts = urlsplit(url or f"{settings.SITE_URL}{reverse('telegram:app')}")
    if (parts.scheme, parts.netloc) != (site.scheme, site.netloc):
        raise Http404("not this shop's page")
    return url or f"{settings.SITE_URL}{reverse('telegram:app')}"


@csrf_exempt
def share_contact(request):
    """The stand-in client's requestContact(): the user shares their own contact with the bot."""
    if request.method != "POST":
        return JsonResponse({"ok": False}, status=405)
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"ok": False}, status=400)
    user = _user_from(data if isinstance(data, dict) else {})
    response = post_update(
        _message(user, contact={"phone_number": "97699112233", "first_name": user["first_name"], "user_id": user["id"]})
    )
    return JsonResponse({"ok": response.status_code == 200})
