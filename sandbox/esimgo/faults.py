"""Fault injection for chaos tests of the code that talks to the sandbox eSIM Go.

A dict in the Django cache under FAULTS_KEY maps an endpoint to a fault spec:

    cache.set("sandbox:esimgo:faults", {"POST orders": {"status": 500, "count": 3}}, None)
    # or: faults.inject("POST orders", status=500, count=3)

Endpoint keys: "<METHOD> <name>" is tried first, then "<name>", then "*". Names are the
url names in urls.py: catalogue, catalogue_bundle, orders, order_detail, assignments, esims,
esim_detail, esim_bundles, esim_bundle, compatible, organisation.
Spec keys (all optional):
    status   HTTP status to answer (default 500)
    body     dict → JSON body, str → raw body (e.g. "<html>" for a malformed 200);
             default {"message": "sandbox fault"}
    headers  extra response headers, e.g. {"Retry-After": "1"}
    delay    seconds to sleep before answering (exercise client read timeouts)
    after    true → perform the real operation first, then answer with the fault
             (a purchase that succeeded but whose answer was lost)
    count    how many requests it affects (default 1); the entry is removed when used up
Consumption is a cache read-modify-write: exact within one process, approximate when
several processes race on the same fault, which chaos tests don't rely on.
"""
from django.core.cache import cache

FAULTS_KEY = "sandbox:esimgo:faults"


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
