"""The conditions `manage.py watchdog` evaluates every minute (systemd timer, NOT Celery: it must
work when Celery is what broke). Each returns an ops.alerts.Condition; ops.alerts dedups them."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from integrations.qpay.client import QPayAuthError, QPayClient, QPayError
from ops import heartbeats, readiness
from ops.alerts import Condition
from ops.models import AlertState
from orders.models import EmailLog, Order
from staff.models import ReconciliationMismatch

logger = logging.getLogger(__name__)

EXAMPLES = 10
EMAIL_FAILURE_WINDOW = timedelta(hours=24)
EMAIL_RETRYING_AFTER = timedelta(minutes=15)


def _order_lines(orders) -> str:
    return "\n".join(
        f"- order {o.public_id} · {o.bundle.name} · {o.status} since "
        f"{timezone.localtime(o.updated_at):%Y-%m-%d %H:%M} · {(o.attention_reason or '')[:120]}"
        f"\n  {settings.SITE_URL}{reverse('admin:orders_order_change', args=[o.pk])}"
        for o in orders
    )


def orders_needing_attention(now) -> Condition:
    queryset = Order.objects.filter(status=Order.Status.NEEDS_ATTENTION)
    count = queryset.count()
    examples = list(queryset.select_related("bundle").order_by("updated_at")[:EXAMPLES])
    more = f"\n… and {count - EXAMPLES} more" if count > EXAMPLES else ""
    return Condition(
        "orders_needing_attention",
        count > 0,
        f"{count} paid order(s) need attention",
        f"{count} paid order(s) are in NEEDS_ATTENTION: the shopper paid and has no eSIM until staff act.\n"
        f"{_order_lines(examples)}{more}",
        reverse("admin:orders_order_changelist") + "?status__exact=NEEDS_ATTENTION",
    )


def undelivered_paid_orders(now) -> Condition:
    limit = timedelta(minutes=settings.UNDELIVERED_ALERT_MINUTES)
    queryset = Order.objects.filter(
        status__in=[Order.Status.PAID, Order.Status.PROVISIONING], created_at__lt=now - limit
    )
    count = queryset.count()
    examples = list(queryset.select_related("bundle").order_by("created_at")[:EXAMPLES])
    oldest = (
        f"; the oldest was paid {(now - examples[0].created_at).total_seconds() / 60:.0f} min ago" if examples else ""
    )
    return Condition(
        "undelivered_paid_orders",
        count > 0,
        f"{count} paid order(s) without an eSIM after {settings.UNDELIVERED_ALERT_MINUTES} min",
        f"{count} order(s) paid more than {settings.UNDELIVERED_ALERT_MINUTES} minutes ago have no eSIM yet{oldest}.\n"
        f"Check the workers (/readyz) and eSIM Go.\n{_order_lines(examples)}",
        reverse("admin:orders_order_changelist") + "?status__in=PAID,PROVISIONING",
    )


def esimgo_balance_low(now) -> Condition:
    threshold = Decimal(str(settings.ESIMGO_LOW_BALANCE_THRESHOLD))
    try:
        org = readiness.esimgo_organisation()
    except readiness.CheckFailed as exc:
        # Unknown is not low: keep the current state (an outage is the readiness check's business).
        return Condition(
            "esimgo_balance_low",
            _still_active("esimgo_balance_low"),
            "eSIM Go balance unknown",
            f"eSIM Go did not answer: {exc}",
            reverse("admin:index"),
        )
    balance = org.balance
    currency = org.currency
    return Condition(
        "esimgo_balance_low",
        balance < threshold,
        f"eSIM Go balance {balance} {currency} is below {threshold}",
        f"The eSIM Go balance is {balance} {currency}, below the alert threshold {threshold}. "
        "New eSIMs fail once it cannot cover a bundle (those bundles are taken off sale until then). "
        "Top up in the eSIM Go portal.",
        reverse("admin:index"),
    )


def _still_active(key) -> bool:
    return AlertState.objects.filter(condition=key, active=True).exists()


def reconciliation_mismatch(now) -> Condition:
    queryset = ReconciliationMismatch.objects.filter(resolved_at__isnull=True)
    count = queryset.count()
    lines = "\n".join(
        f"- {m.day} · {m.get_kind_display()} · {m.detail[:160]}" for m in queryset.order_by("-day", "id")[:EXAMPLES]
    )
    return Condition(
        "reconciliation_mismatch",
        count > 0,
        f"{count} open reconciliation mismatch(es)",
        f"The reconciliation found {count} difference(s) between the shop, QPay and eSIM Go:\n{lines}",
        reverse("admin:staff_reconciliationmismatch_changelist") + "?open=1",
    )


def heartbeat_conditions(now) -> list[Condition]:
    if not (settings.REDIS_URL and not settings.CELERY_TASK_ALWAYS_EAGER):
        return []  # in-process tasks (development): there is no worker or beat to watch
    result = []
    for status in heartbeats.statuses(now=now):
        what = "Celery beat" if status.name == "beat" else f"Celery worker for queue {status.name.split(':', 1)[1]}"
        result.append(
            Condition(
                f"heartbeat:{status.name}",
                not status.ok,
                f"{what} heartbeat missing",
                f"No heartbeat from {what}: {status.detail} (limit {status.max_age_seconds:.0f}s). "
                f"Paid orders may not be delivered. On the server: systemctl status 'esimshop-*'; journalctl -u esimshop-*.",
                reverse("admin:index"),
            )
        )
    return result


def qpay_auth(now) -> Condition:
    try:
        QPayClient(
            connect_timeout=readiness.check_timeout(), read_timeout=readiness.check_timeout(), max_retries=0
        ).get_access_token()
        failing, summary, detail = False, "QPay authentication failing", ""
    except QPayAuthError as exc:
        failing, summary = True, "QPay refuses the shop's credentials"
        detail = (
            f"QPay answered {type(exc).__name__}{f' (HTTP {exc.status})' if exc.status else ''} to the token request. "
            "Check QPAY_CLIENT_ID/QPAY_CLIENT_SECRET with QPay."
        )
    except QPayError as exc:
        failing, summary = True, "QPay unreachable: no token"
        detail = (
            f"The token request failed: {type(exc).__name__}{f' (HTTP {exc.status})' if exc.status else ''}. "
            "Check QPay's status and this server's network."
        )
    return Condition(
        "qpay_auth",
        failing,
        summary,
        f"{detail} No invoice can be created or checked until it works.",
        reverse("admin:index"),
    )


def emails_failing(now) -> Condition:
    failed = EmailLog.objects.filter(status=EmailLog.Status.FAILED, created_at__gte=now - EMAIL_FAILURE_WINDOW)
    retrying = EmailLog.objects.filter(
        status=EmailLog.Status.PENDING, attempts__gte=1, created_at__lt=now - EMAIL_RETRYING_AFTER
    )
    count_failed, count_retrying = failed.count(), retrying.count()
    last = (
        failed.exclude(last_error="").order_by("-created_at").values_list("last_error", flat=True).first()
        or retrying.exclude(last_error="").order_by("-created_at").values_list("last_error", flat=True).first()
        or ""
    )
    return Condition(
        "emails_failing",
        bool(count_failed or count_retrying),
        f"shop e-mails failing ({count_failed} failed, {count_retrying} retrying)",
        f"{count_failed} e-mail(s) failed for good in the last 24 h and {count_retrying} keep failing. "
        f"Shoppers may not get their eSIM e-mail. Last error: {last[:200]}",
        reverse("admin:orders_emaillog_changelist") + "?status__exact=FAILED",
    )


EVALUATORS = [
    orders_needing_attention,
    undelivered_paid_orders,
    esimgo_balance_low,
    reconciliation_mismatch,
    qpay_auth,
    emails_failing,
]


def conditions(*, now=None) -> list[Condition]:
    now = now or timezone.now()
    result = []
    for evaluate in EVALUATORS:
        try:
            result.append(evaluate(now))
        except Exception:  # noqa: BLE001 - one broken evaluator must not silence the others
            logger.exception("watchdog: %s could not be evaluated", evaluate.__name__)
    try:
        result.extend(heartbeat_conditions(now))
    except Exception:  # noqa: BLE001
        logger.exception("watchdog: heartbeats could not be evaluated")
    return result
