"""Benchmark: the first visitor of a storefront page after a catalogue change or a deploy.

    .venv/bin/python bench/warm_pages.py [--rounds 3] [--requests 100] [--json-out FILE]

The server as the Procfile starts it (gthread), DEBUG=False, PostgreSQL (throwaway database)
and Redis (the run's own key prefix), the sandbox's ~2,400-bundle catalogue loaded through the
real sync. Pages: home, A-Z, Mongolia, Japan, Asia, a plan page; each against the bare /healthz
measured in the same pass (sequential, one client, interleaved).

  warm          steady state: every page served from the page cache;
  after change  prices change, then what the Celery task does (catalog.page_warming.warm_and_switch)
                runs, then each page's FIRST visitor is timed;
  after deploy  `manage.py expire_storefront_cache` (the Procfile's release step), then first visitors;
  no warming    the version bumped without warming (the behaviour before issue 14): first visitors
                render cold - for reference.
Target: every first visitor and every warm page <= 2x the bare view.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.capacity import start_procfile_web  # noqa: E402
from bench.purchase import bench_env  # noqa: E402

RUN = f"bench-warm-{os.getpid()}"
TARGET = 2.0
ESIMGO_URL = "https://api.esim-go.com/v2.4"


def fill_catalogue() -> None:
    import responses

    from catalog.services import sync_catalog
    from sandbox.esimgo.catalogue import get_catalogue

    catalogue = get_catalogue()
    bodies = [json.loads(catalogue.json[b["name"]]) for b in catalogue.bundles]

    def page(request):
        query = parse_qs(urlparse(request.url).query)
        per_page, number = int(query.get("perPage", ["1000"])[0]), int(query.get("page", ["1"])[0])
        payload = {
            "bundles": bodies[(number - 1) * per_page : number * per_page],
            "pageCount": -(-len(bodies) // per_page),
            "rows": len(bodies),
            "pageSize": per_page,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(payload)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, re.compile(re.escape(ESIMGO_URL) + r"/catalogue.*"), callback=page)
        sync_catalog()


def change_prices(step: int) -> None:
    """A staff price change on the popular plans (what a sync's repricing also does)."""
    from django.db import transaction

    from catalog.models import Bundle
    from catalog.services import refresh_country_stats

    with transaction.atomic():
        for bundle in Bundle.objects.filter(coverage__country__iso__in=["MN", "JP"]).distinct()[:40]:
            Bundle.objects.filter(pk=bundle.pk).update(price_override_mnt=10000 + 100 * step)
        refresh_country_stats()


def timed(session, url):
    started = time.perf_counter()
    response = session.get(url, timeout=30)
    assert response.status_code == 200, (url, response.status_code)
    return (time.perf_counter() - started) * 1000, response.headers.get("X-Storefront-Cache", "")


def first_visits(session, site, paths, bare_url) -> dict:
    timed(session, bare_url)  # the client's keep-alive connection timed out while we warmed: reconnect first
    out = {}
    for path in paths:
        out[path] = timed(session, site + path)
        out.setdefault("_bare", []).append(timed(session, bare_url)[0])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--json-out")
    args = parser.parse_args()
    import requests

    common.require_services()
    redis_url = common.redis_url()
    server = None
    with common.throwaway_postgres("warm") as database_url:
        port = common.free_port()
        site = f"http://127.0.0.1:{port}"
        env = {
            **bench_env(database_url, redis_url, site),
            "CACHE_KEY_PREFIX": RUN,
            "BENCH_CELERY_QUEUE": RUN,
            "LOG_LEVEL": "WARNING",
            "BENCH_STUB_PROVIDERS": "0",
        }  # pages call no provider; the sync is mocked
        try:
            common.run_manage(env, "migrate", "--noinput", "-v", "0")
            os.environ.update(env)
            import django

            django.setup()
            from catalog import page_cache, page_warming
            from catalog.models import Bundle

            fill_catalogue()
            plan = Bundle.objects.filter(coverage__country__iso="MN", is_available=True).order_by("name").first()
            paths = ["/", "/countries/", "/countries/MN/", "/countries/JP/", "/regions/asia/", f"/bundles/{plan.name}/"]
            server = start_procfile_web(env, port, Path(f"/tmp/{RUN}-web.log"))
            session, bare = requests.Session(), f"{site}/healthz"
            for path in paths:
                timed(session, site + path)  # store
            warm = {path: [] for path in paths + ["_bare"]}
            for _ in range(args.requests):
                for path in paths:
                    warm[path].append(timed(session, site + path)[0])
                    warm["_bare"].append(timed(session, bare)[0])
            rounds = {"after change": [], "after deploy": [], "no warming": []}
            warm_seconds = []
            for step in range(args.rounds):
                change_prices(step)
                started = time.monotonic()
                result = page_warming.warm_and_switch()
                warm_seconds.append((time.monotonic() - started, result.rendered))
                rounds["after change"].append(first_visits(session, site, paths, bare))
                common.run_manage(env, "expire_storefront_cache")
                rounds["after deploy"].append(first_visits(session, site, paths, bare))
                page_cache.bump_catalogue_version()
                rounds["no warming"].append(first_visits(session, site, paths, bare))
            result = report(paths, warm, rounds, warm_seconds)
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(result, indent=2))
        finally:
            common.stop(server)
            from django.db import connections

            connections.close_all()
            common.delete_redis_keys(redis_url, f"{RUN}*", f"*{RUN}*")


def report(paths, warm, rounds, warm_seconds) -> dict:
    bare_warm = statistics.median(warm["_bare"])
    print(
        f"\nwarming: {', '.join(f'{s:.1f} s for {n} pages' for s, n in warm_seconds)} (in the background, "
        "while visitors keep the previous pages)"
    )
    print(f"{'page':<34}{'warm x':>8}" + "".join(f"{name + ' x':>16}" for name in rounds) + "   verdict")
    rows = []
    for path in paths:
        row = {
            "path": path,
            "warm_ms": statistics.median(warm[path]),
            "warm_x": statistics.median(warm[path]) / bare_warm,
        }
        for name, samples in rounds.items():
            bare = statistics.median([b for sample in samples for b in sample["_bare"]])
            firsts = [sample[path][0] for sample in samples]
            row[name] = {
                "first_ms": statistics.median(firsts),
                "x": statistics.median(firsts) / bare,
                "cache": sorted({sample[path][1] for sample in samples}),
            }
        ok = row["warm_x"] <= TARGET and row["after change"]["x"] <= TARGET and row["after deploy"]["x"] <= TARGET
        row["verdict"] = "PASS" if ok else "MISS"
        rows.append(row)
        print(
            f"{path[:33]:<34}{row['warm_x']:>7.1f}x"
            + "".join(f"{row[name]['x']:>9.1f}x {'/'.join(row[name]['cache'])[:5]:<5}" for name in rounds)
            + f"   {row['verdict']}"
        )
    print(f"bare /healthz median {bare_warm:.2f} ms; load {os.getloadavg()[0]:.2f}")
    return {"rows": rows, "bare_ms": bare_warm, "warm_seconds": warm_seconds, "load": os.getloadavg()[0]}


if __name__ == "__main__":
    main()
