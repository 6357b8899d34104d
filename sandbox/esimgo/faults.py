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
"""

from sandbox.faults import FaultSwitchboard

FAULTS_KEY = "sandbox:esimgo:faults"
_switchboard = FaultSwitchboard(FAULTS_KEY)
inject, clear, take = _switchboard.inject, _switchboard.clear, _switchboard.take
