"""The delivery side of bench/capacity.py: eSIM Go's request budget (its real 10 req/s, our limiter
at 9/s, shared through Redis by every web and Celery process of the run).

- deliveries(): a Celery worker alone delivers the paid orders; eSIM Go requests per delivered eSIM
  from the stub's counts, deliveries per second.
- burst(): the same while 30 shoppers post purchases to a web server whose purchases validate
  with eSIM Go under the same limiter, with the per-bundle validation cache off (every purchase
  validates: the worst case; with the cache a burst of one plan costs one validation a minute).
  ESIMGO_PROVISIONING_RESERVED_PERCENT of every second is kept for provisioning paid orders,
  so deliveries go on at no less than that share while validations are held to the rest.
"""

import os
import threading
import time

from bench import common, load

LIMIT = 9  # ESIMGO_RATE_LIMIT_PER_SECOND in production: eSIM Go's 10/s less one of margin


def provider_counts(redis_url, key) -> dict:
    import redis

    raw = redis.Redis.from_url(redis_url).hgetall(key)
    return {k.decode(): int(v) for k, v in raw.items()}


def _spent(before: dict, after: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def _delivered() -> int:
    from orders.models import Order

    return Order.objects.filter(status="DELIVERED").count()


def deliveries(env, log_dir, redis_url, count_key, queue, paid: int, timeout: float) -> dict:
    """A Celery worker at eSIM Go's real limit delivers the paid orders; requests per delivered eSIM."""
    before = provider_counts(redis_url, count_key)
    worker_env = {**env, "ESIMGO_RATE_LIMIT_PER_SECOND": str(LIMIT)}
    worker = common.start_celery_worker(
        env=worker_env,
        log_path=log_dir / "worker.log",
        concurrency=int(env.get("CELERY_CONCURRENCY", "4")),
        queue=queue,
        name=queue,
    )
    started = time.monotonic()
    delivered = first_at = 0
    try:
        while time.monotonic() - started < timeout:
            delivered = _delivered()
            if delivered and not first_at:
                first_at = time.monotonic()  # the worker's start-up is not delivery time
            if delivered >= paid:
                break
            time.sleep(0.25)
        seconds = time.monotonic() - (first_at or started)
        time.sleep(5)  # deferred customerRef tags that found idle budget
        delivered_at_end = _delivered()
        peaks = load.process_tree_peaks(worker.pid)
    finally:
        common.stop(worker)
    spent = _spent(before, provider_counts(redis_url, count_key))
    on_path = sum(v for k, v in spent.items() if k.startswith("esimgo") and "validate" not in k and "PUT" not in k)
    tags = sum(v for k, v in spent.items() if k.startswith("esimgo PUT"))
    return {
        "paid": paid,
        "delivered": delivered,
        "seconds": seconds,
        "per_second": max(delivered - 1, 0) / seconds if seconds else 0.0,
        "delivered_at_end": delivered_at_end,
        "esimgo_calls": spent,
        "esimgo_per_delivered_path": on_path / max(delivered_at_end, 1),
        "esimgo_tags_per_delivered": tags / max(delivered_at_end, 1),
        "celery_peak_rss_mb": peaks,
    }


def burst(*, env, log_dir, redis_url, count_key, queue, start_web, pay, shoppers: int, seconds: float) -> dict:
    """Paid orders waiting, then `shoppers` purchasing for `seconds` while a worker delivers them,
    everything under the one limiter. `start_web(env)` -> (server, site); `pay(site)` -> paid count."""
    from bench.purchase import purchase_body, shopper_address

    limited = {**env, "ESIMGO_RATE_LIMIT_PER_SECOND": str(LIMIT), "ESIMGO_VALIDATION_CACHE_SECONDS": "0"}
    server, site = start_web(limited)
    worker = None
    try:
        already = _delivered()
        paid = pay(site)
        answers = load.Answers()
        shopping = threading.Thread(
            target=load.shoppers,
            kwargs=dict(
                site=site,
                count=shoppers,
                seconds=seconds,
                body_for=lambda i: purchase_body(i, "6"),
                address_for=shopper_address,
                answers=answers,
                start_index=3_000_000,
            ),
            daemon=True,
        )
        shop_started = time.monotonic()
        shopping.start()
        # Provisioning only: this worker must not also run the payment checks the new purchases schedule.
        worker = common.start_celery_worker(
            env=limited,
            log_path=log_dir / "burst-worker.log",
            concurrency=int(env.get("CELERY_CONCURRENCY", "4")),
            queue=queue,
            name=f"{queue}-burst",
            provisioning_only=True,
        )
        first = None
        samples = []  # (time, delivered, provider counts)
        while shopping.is_alive():
            delivered = _delivered() - already
            now = time.monotonic()
            if delivered and first is None:
                first = (now, delivered, provider_counts(redis_url, count_key), len(answers.rows))
            samples.append((now, delivered))
            time.sleep(0.25)
        shopping.join()
        end = (time.monotonic(), _delivered() - already, provider_counts(redis_url, count_key), len(answers.rows))
    finally:
        common.stop(worker)
        common.stop(server)
    if first is None:
        return {"paid": paid, "delivered": 0, "error": "no delivery during the burst"}
    window = end[0] - first[0]
    spent = _spent(first[2], end[2])
    validations = spent.get("esimgo POST orders:validate", 0)
    orders = spent.get("esimgo POST orders:transaction", 0)
    esimgo_total = sum(v for k, v in spent.items() if k.startswith("esimgo"))
    created = [row for row in answers.rows[first[3] : end[3]] if row[2] == 201]
    in_window = [s for _, s, status in answers.rows if status == 201]
    reserved = int(env.get("ESIMGO_PROVISIONING_RESERVED_PERCENT", "34"))
    return {
        "limit_per_second": LIMIT,
        "reserved_percent": reserved,
        "shopper_share_per_second": LIMIT - -(-LIMIT * reserved // 100),
        "paid_waiting": paid,
        "window_seconds": window,
        "worker_started_after_s": first[0] - shop_started,
        "deliveries_per_second": (end[1] - first[1]) / window,
        "validations_per_second": validations / window,
        "esimgo_orders_per_second": orders / window,
        "esimgo_requests_per_second": esimgo_total / window,
        "purchases_per_second": len(created) / window,
        "purchase_statuses": {
            str(s): sum(1 for *_, x in answers.rows if x == s) for s in {x for *_, x in answers.rows}
        },
        **{f"purchase_{k}_ms": v for k, v in (common.summary_ms(in_window).items() if in_window else ())},
        "esimgo_calls": spent,
        "load": os.getloadavg()[0],
    }
