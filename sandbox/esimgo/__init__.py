"""Sandbox eSIM Go v2.4, mounted at /sandbox/esimgo/v2.4/ only in sandbox mode.

catalogue.py  deterministic in-memory catalogue (no DB)
views.py      the endpoints (auth, rate limit, {"message"} errors); urls.py maps the v2.4 paths
services.py   orders, revocation, compatibility rule, signed V3 usage callbacks
usage.py      data left / bundleState as a function of time
faults.py     fault injection for chaos tests
models.py     organisation balance, orders, eSIMs, assignments (persisted)
Command: `manage.py sandbox_esimgo_usage_callback <iccid> [--percent 80]`.
"""
