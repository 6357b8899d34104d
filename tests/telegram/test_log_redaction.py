"""The bot token is part of every Bot API URL (and the key of every initData signature): a log
line that carries it, or the webhook secret, is masked like the other provider secrets."""

from esimshop.log_redaction import redact
from tests.telegram.conftest import BOT_TOKEN, WEBHOOK_SECRET


def test_bot_token_and_webhook_secret_are_masked_in_logs():
    line = f'"POST /bot{BOT_TOKEN}/sendMessage HTTP/1.1" 200; header {WEBHOOK_SECRET}'
    cleaned = redact(line)
    assert BOT_TOKEN not in cleaned and WEBHOOK_SECRET not in cleaned
    assert "/sendMessage" in cleaned
