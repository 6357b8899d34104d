"""Staff actions: permission check → the owning app's service (row lock + guard) → audit row.

Every action is safe to click twice: the services re-check state under a row lock, so the
second click finds the work done and says so (outcome NOTHING_TO_DO), and refunds carry the
form's idempotency key. Permissions (granted through the "support" and "finance" groups):

    re-check payment at QPay      payments.recheck_payment        support, finance   invoices.py
    cancel unpaid invoice         payments.cancel_invoice_at_qpay finance            invoices.py
    re-issue an e-barimt receipt  payments.recheck_payment        support, finance   invoices.py
    refund / check a refund       payments.refund_payment         finance            refunds.py
    retry provisioning            orders.retry_provisioning       support, finance   orders.py
    mark delivered by hand        orders.deliver_manually         finance            orders.py
    buy again after unknown order orders.deliver_manually         finance            orders.py

What every action returns and records is in result.py.
"""
