"""Settings for the benchmarks (bench/purchase.py, bench/callback_to_esim.py): the production
settings (DEBUG off, everything from the environment) with only what a loopback-only run needs.

- Plain HTTP on 127.0.0.1 with no TLS proxy in front: no HTTPS redirect, no secure-only cookies.
- BENCH_CELERY_QUEUE: the run's own Celery queues (<name> for the default queue, <name>.provisioning
  for paid orders' provisioning), so a bench never feeds (or is fed by) another worker that shares
  the Redis db. esimshop/celery.py sets its queues and routes on the app itself, which overrides
  CELERY_* settings, so they are set on the app here, after it.
- BENCH_STUB_PROVIDERS=1: QPay and eSIM Go at zero latency through an in-process requests
  transport (bench/stub_providers.py) mounted at QPAY_BASE_URL and ESIMGO_BASE_URL.
Rate limits (purchases, status polls, eSIM Go's 10 req/s) come from their usual env variables.
"""

from esimshop.settings import *  # noqa: F401,F403
from esimshop.settings import ESIMGO_BASE_URL, QPAY_BASE_URL, env

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LANGUAGE_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

BENCH_CELERY_QUEUE = env.str("BENCH_CELERY_QUEUE", default="")
if BENCH_CELERY_QUEUE:
    from kombu import Queue

    from esimshop.celery import PROVISIONING_QUEUE
    from esimshop.celery import app as _celery_app

    _provisioning = f"{BENCH_CELERY_QUEUE}.{PROVISIONING_QUEUE}"
    _celery_app.conf.task_default_queue = BENCH_CELERY_QUEUE
    _celery_app.conf.task_queues = (Queue(BENCH_CELERY_QUEUE), Queue(_provisioning))
    _celery_app.conf.task_routes = {"orders.tasks.provision_order_task": {"queue": _provisioning}}

if env.bool("BENCH_STUB_PROVIDERS", default=False):
    from bench.stub_providers import install

    install(qpay_base_url=QPAY_BASE_URL, esimgo_base_url=ESIMGO_BASE_URL)
