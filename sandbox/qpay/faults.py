"""Fault injection for chaos tests of the code that talks to the sandbox QPay.

Same shape as sandbox/esimgo/faults.py. A dict in the Django cache under FAULTS_KEY maps an
endpoint to a fault spec:

    faults.inject("payment_check", status=503, count=2)
    cache.set("sandbox:qpay:faults", {"POST invoice_create": {"status": 500}}, None)

Endpoint keys: "<METHOD> <name>", then "<name>", then "*". Names: auth_token, auth_refresh,
invoice_create, invoice_detail, payment_check, payment_detail, payment_list, payment_cancel,
payment_refund, callback (the sandbox's own call to the shop's callback_url: the fault
"loses" the callback, i.e. it is never sent).
Spec keys (all optional):
    status   HTTP status to answer (default 500)
    body     dict → JSON body, str → raw body; default {"error": "INTERNAL_ERROR", "message": "sandbox fault"}
    headers  extra response headers, e.g. {"Retry-After": "1"}
    delay    seconds to sleep before answering (exercise client read timeouts)
    after    true → perform the real operation first, then answer with the fault
             (an invoice that was created but whose answer was lost)
    count    how many requests it affects (default 1); the entry is removed when used up
"""
from django.core.cache import cache

FAULTS_KEY = "sandbox:qpay:faults"


def inject(endpoint: str, **spec) -> None:
    faults = cache.get(FAULTS_KEY) or {}
    faults[endpoint] = spec
    cache.set(FAULTS_KEY, faults, None)


def clear() -> None:
    cache.delete(FAULTS_KEY)


def take(method: str, endpoint: str) -> dict | None:
    """Consume one use of the fault configured for this request, if any."""
    faults = cache.get(FAULTS_KEY)
    if not faults:
        return None
    for key in (f"{method} {endpoint}", endpoint, "*"):
        spec = faults.get(key)
        if spec is None:
            continue
        count = int(spec.get("count", 1))
        if count <= 1:
            del faults[key]
        else:
            faults[key] = {**spec, "count": count - 1}
        cache.set(FAULTS_KEY, faults, None)
        return spec
    return None
