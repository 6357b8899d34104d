"""Groups of settings that esimshop/settings.py imports (DJANGO_SETTINGS_MODULE stays
esimshop.settings). Each part reads its knobs from the environment with their defaults, every
knob is listed in .env.example (tests/production/test_env_example.py checks both), and the code
reads them as `settings.NAME`, never through getattr with a default of its own.

    base        the environment reader and what every other part depends on (DEBUG, SANDBOX, SITE_URL, REDIS_URL)
    esimgo      eSIM Go client knobs (credentials and base URL: settings.py, next to the production checks)
    payments    pricing, the QPay client, purchase limits, payment-check schedules, e-barimt
    orders      provisioning, reconciliation of unknown purchases, sweeps, magic links, usage
    telegram    the Mini App and bot
    operations  logs, Sentry, metrics, heartbeats, readiness, alerts, the daily report
    sandbox     the built-in sandbox providers' test knobs
"""
