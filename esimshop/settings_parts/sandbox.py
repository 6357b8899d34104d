"""Knobs of the built-in sandbox providers (sandbox/), for tests and demos; the real providers
never read them."""

from esimshop.settings_parts.base import env

# Sandbox eSIM Go: requests per second per caller address (the live API's 10; 0 = not enforced),
# and the simulated usage of an installed eSIM (first use after, all data gone after, seconds).
SANDBOX_ESIMGO_RATE_LIMIT = env.int("SANDBOX_ESIMGO_RATE_LIMIT", default=10)
SANDBOX_ESIMGO_FIRST_USE_SECONDS = env.int("SANDBOX_ESIMGO_FIRST_USE_SECONDS", default=60)
SANDBOX_ESIMGO_DEPLETION_SECONDS = env.int("SANDBOX_ESIMGO_DEPLETION_SECONDS", default=2 * 3600)
# Sandbox QPay: access-token lifetime (real QPay: about a day), whether the payment callback is
# sent inside the paying request instead of after it, and whether the merchant is enrolled for
# e-barimt (False: QPay's EBARIMT_NOT_REGISTERED).
SANDBOX_QPAY_TOKEN_LIFETIME = env.int("SANDBOX_QPAY_TOKEN_LIFETIME", default=86400)
SANDBOX_QPAY_CALLBACK_INLINE = env.bool("SANDBOX_QPAY_CALLBACK_INLINE", default=False)
SANDBOX_QPAY_EBARIMT_REGISTERED = env.bool("SANDBOX_QPAY_EBARIMT_REGISTERED", default=True)
# Sandbox Telegram Bot API: chat ids that have "blocked the bot" (sendMessage answers 403).
SANDBOX_TELEGRAM_BLOCKED_CHATS = env.list("SANDBOX_TELEGRAM_BLOCKED_CHATS", cast=int, default=[])
