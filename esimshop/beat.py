"""Every periodic task of the shop, in one place (Celery beat reads `app.conf.beat_schedule`).

Task names are strings (each task declares the same name explicitly), so this module imports no
app code: dependencies keep pointing from the apps to the project, never back. Intervals come from
settings at start-up (esimshop/settings_parts/, with the defaults production runs); the outage
suite shortens them.
"""

from celery.schedules import crontab
from django.conf import settings


def beat_schedule() -> dict:
    """name -> {"task", "schedule"}; the names are what `celery beat` logs."""
    sync_hours = max(int(settings.CATALOG_SYNC_INTERVAL_HOURS), 1)
    return {
        # The database holds every pending invoice's next check and expiry (payments/schedules.py);
        # this sweep drives them, so a lost broker message costs at most one period.
        "payments: sweep pending invoices": {
            "task": "payments.sweep_pending_invoices",
            "schedule": float(settings.PAYMENTS_SWEEP_INTERVAL_SECONDS),
        },
        "payments: retry e-barimt receipts": {"task": "payments.sweep_ebarimt", "schedule": 1800.0},
        "orders: sweep undelivered orders": {
            "task": "orders.tasks.sweep_undelivered_orders_task",
            "schedule": float(settings.ORDERS_SWEEP_INTERVAL_SECONDS),
        },
        # eSIM Go orders nobody claimed, matched against open purchase attempts (adopt or alert).
        "orders: match unattributed eSIM Go orders": {
            "task": "orders.match_unattributed_esimgo_orders",
            "schedule": float(settings.ORDERS_UNATTRIBUTED_CHECK_INTERVAL_SECONDS),
        },
        "catalog: sync eSIM Go catalogue": {
            "task": "catalog.tasks.sync_catalog_task",
            "schedule": sync_hours * 3600.0,
        },
        "catalog: plan networks": {
            "task": "catalog.tasks.refresh_bundle_networks_task",
            "schedule": float(settings.CATALOG_NETWORKS_INTERVAL_SECONDS),
        },
        # 02:15 in Ulaanbaatar (UTC+8, no DST) = 18:15 UTC; CELERY_TIMEZONE is UTC.
        "staff: reconcile yesterday": {
            "task": "staff.tasks.reconcile_yesterday_task",
            "schedule": crontab(hour=18, minute=15),
        },
        "staff: eSIM Go balance": {"task": "staff.tasks.refresh_esimgo_balance_task", "schedule": 240.0},
        "ops: daily report": {
            "task": "ops.tasks.send_daily_report",
            "schedule": crontab(hour=int(settings.DAILY_REPORT_HOUR_UTC), minute=0),
        },
        "telegram: sweep bot messages": {"task": "telegram.tasks.sweep_bot_messages_task", "schedule": 120.0},
        **_heartbeats(),
    }


def _heartbeats() -> dict:
    """One heartbeat per queue, routed to that queue: beat publishing it proves beat alive, a worker
    running it proves that queue served (ops/heartbeats.py reads both for /readyz and the watchdog)."""
    period = float(settings.HEARTBEAT_SECONDS)
    return {
        f"ops: heartbeat {queue}": {
            "task": "ops.tasks.heartbeat",
            "schedule": period,
            "args": (queue,),
            # A heartbeat older than a period is worthless: drop it rather than run a backlog.
            "options": {"queue": queue, "expires": period},
        }
        for queue in settings.HEARTBEAT_QUEUES
        if queue
    }
