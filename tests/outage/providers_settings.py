"""Settings of the outage suite's providers process: the built-in sandbox eSIM Go and QPay served
as stand-ins at non-sandbox paths (tests/production/standin_urls.py: /esimgo/v2.4/, /qpay/), so
the shop under test runs with SANDBOX off and talks to them as to real providers, over real HTTP.
The outage suite's shortened windows don't concern this process; its sandbox knobs are below."""

from tests.production.standin_settings import *  # noqa: F401,F403

# As before the stand-ins: the bank page answers at once and posts the shop's callback itself.
SANDBOX_QPAY_CALLBACK_INLINE = False
