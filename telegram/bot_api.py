"""A small Telegram Bot API client: POST {base}/bot{token}/{method} with JSON, `{"ok": ...}` answers.

Errors are sorted the way the sender must treat them (https://core.telegram.org/bots/api#making-requests):
429 carries `parameters.retry_after` (seconds to wait), 403 means the user blocked the bot (never
retried), other 4xx are permanent, 5xx and network faults are transient. The token is part of
the URL, so URLs are never logged or put in exception messages.
"""

import logging

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15


class BotApiError(Exception):
    def __init__(self, description: str, *, status: int | None = None, retry_after: int | None = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after

    @property
    def blocked(self) -> bool:
        """403 Forbidden: blocked by the user, user deactivated, or the bot was never started."""
        return self.status == 403

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class BotApi:
    def __init__(self, token: str | None = None, base_url: str | None = None, session=None):
        self.token = settings.TELEGRAM_BOT_TOKEN if token is None else token
        self.base_url = (settings.TELEGRAM_BOT_API_BASE_URL if base_url is None else base_url).rstrip("/")
        self.session = session or requests.Session()

    def call(self, method: str, payload: dict) -> object:
        if not self.token:
            raise BotApiError("TELEGRAM_BOT_TOKEN is not set", status=None)
        url = f"{self.base_url}/bot{self.token}/{method}"
        try:
            response = self.session.post(url, json=payload, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.RequestException as exc:
            raise BotApiError(f"{method}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        body = body if isinstance(body, dict) else {}
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        retry_after = parameters.get("retry_after")
        status = body.get("error_code") if isinstance(body.get("error_code"), int) else response.status_code
        raise BotApiError(
            f"{method}: {status} {str(body.get('description') or '')[:200]}".strip(),
            status=status,
            retry_after=retry_after if isinstance(retry_after, int) and retry_after >= 0 else None,
        )

    def send_message(self, chat_id: int, text: str, *, reply_markup: dict | None = None) -> dict:
        payload = {"chat_id": chat_id, "text": text, "link_preview_options": {"is_disabled": True}}
        if reply_markup:
            payload["reply_markup"] = reply_markup
        return self.call("sendMessage", payload)

    def set_webhook(self, url: str, secret_token: str) -> object:
        return self.call(
            "setWebhook",
            {
                "url": url,
                "secret_token": secret_token,
                "allowed_updates": ["message"],
                "drop_pending_updates": False,
            },
        )

    def set_chat_menu_button(self, text: str, url: str) -> object:
        return self.call(
            "setChatMenuButton", {"menu_button": {"type": "web_app", "text": text, "web_app": {"url": url}}}
        )
