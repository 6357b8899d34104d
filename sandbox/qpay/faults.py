"""Fault injection for chaos tests of the code that talks to the sandbox QPay.

Same shape as sandbox/esimgo/faults.py. A dict in the Django cache under FAULTS_KEY maps an
endpoint to a fault spec:

    faults.inject("payment_check", status=503, count=2)
    cache.set("sandbox:qpay:faults", {"POST invoice_create": {"status": 500}}, None)

Endpoint keys: "<METHOD> <name>", then "<name>", then "*". Names: auth_token, auth_refresh,
invoice_create, invoice_detail, payment_check, payment_detail, payment_list, payment_cancel,
payment_refund, ebarimt_create, ebarimt_cancel, callback (the sandbox's own call to the shop's callback_url: the fault
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

from sandbox.faults import FaultSwitchboard

FAULTS_KEY = "sandbox:qpay:faults"
_switchboard = FaultSwitchboard(FAULTS_KEY)
inject, clear, take = _switchboard.inject, _switchboard.clear, _switchboard.take
