"""Settings of the stand-in providers for the production-mode test: a separate process serving
only the built-in sandbox eSIM Go and QPay (their real wire formats, /work/shared/reference) at
non-sandbox paths (/esimgo/v2.4/, /qpay/), with its own SQLite database. The shop under test
sees an ordinary provider at http://127.0.0.1:PORT and uses its real-provider code path."""

from esimshop.settings import *  # noqa: F401,F403

ROOT_URLCONF = "tests.production.standin_urls"
SANDBOX = True
# The shop's callbacks are answered in the payment thread (no dev-server thread juggling here).
SANDBOX_QPAY_CALLBACK_INLINE = True
SANDBOX_ESIMGO_RATE_LIMIT = 0
MIDDLEWARE = [m for m in MIDDLEWARE if "axes" not in m]  # noqa: F405 - no admin here
