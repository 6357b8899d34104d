"""Benchmark: storefront pages against a bare Django view, on a real server.

    .venv/bin/python bench/pages.py [--requests 300] [--workers 1]

Builds a throwaway SQLite database in a temp dir, migrates it and fills it with the sandbox's
deterministic catalogue (~2,400 bundles over ~230 countries, regional and global bundles with
roaming coverage) through the real bulk sync (eSIM Go pages mocked in-process with `responses`).
Then starts gunicorn (the Procfile's server, sync workers) on a free loopback port with
DEBUG=False and the local-memory cache (REDIS_URL unset), twice:

- cold: STOREFRONT_CACHE_SECONDS=0, so every request renders the page, as the first visitor of
  each page gets it after a catalogue change (responses are checked to say X-Storefront-Cache: miss);
- warm: the page cache on, each page requested once first (that first hit is printed too), as a
  running shop holds it; timed responses are checked to say X-Storefront-Cache: hit.

Each pass times sequential requests (one requests.Session; sync workers close each connection,
so every request includes a loopback TCP connect), the URLs interleaved round-robin so load
changes on the machine hit every URL alike, /healthz (a bare JsonResponse view, no DB) among
them. Pages render in Mongolian (no cookie sent). Prints median / p95 in ms, each median as a
multiple of the same pass's bare view, and PASS/MISS against the issue's target (warm page
median <= 2x bare). Nothing outside the temp dir is touched.

    .venv/bin/python bench/pages.py --breakdown [--requests 100]

Profiles instead of benchmarking: each URL is requested in-process (Django test client, no
server, the page cache emptied before every request so each one really renders) and its time is
split into SQL execution (count and ms), template rendering (outermost Template.render, which
includes any query a template triggers) and the rest (view code building lists, ORM query
compilation and model instantiation, middleware).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="esimshop-pages-bench-")
ESIMGO_URL = "https://api.esim-go.com/v2.4"
SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "esimshop.settings",
    "DATABASE_URL": f"sqlite:///{TMP}/bench.sqlite3",
    "DEBUG": "False",
    "SECRET_KEY": "bench-only-" + os.urandom(32).hex(),
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "False",  # plain HTTP on loopback
    "REDIS_URL": "",
    "LOG_LEVEL": "WARNING",
    "ESIMGO_BASE_URL": ESIMGO_URL,
    "ESIMGO_API_KEY": "bench-key",  # real-provider settings: the sandbox is not mounted, like production
    "QPAY_CLIENT_ID": "BENCH",
    "QPAY_CLIENT_SECRET": "bench-secret",
    "QPAY_INVOICE_CODE": "BENCH_INVOICE",
    "ESIMGO_RATE_LIMIT_PER_SECOND": "0",
    "ESIMGO_CATALOGUE_PAGE_SIZE": "1000",
}
os.environ.update(SERVER_ENV)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
import responses  # noqa: E402
from django.core.management import call_command  # noqa: E402

from catalog.models import Bundle, Country  # noqa: E402
from catalog.services import sync_catalog  # noqa: E402
from sandbox.esimgo.catalogue import get_catalogue  # noqa: E402


def fill_catalogue() -> None:
    """Sync the sandbox catalogue through the real sync code, eSIM Go pages mocked."""
    catalogue = get_catalogue()
    bodies = [json.loads(catalogue.json[b["name"]]) for b in catalogue.bundles]

    def page(request):
        query = parse_qs(urlparse(request.url).query)
        per_page = int(query.get("perPage", ["1000"])[0])
        number = int(query.get("page", ["1"])[0])
        chunk = bodies[(number - 1) * per_page : number * per_page]
        page_count = -(-len(bodies) // per_page)
        payload = {"bundles": chunk, "pageCount": page_count, "rows": len(bodies), "pageSize": per_page}
        return 200, {"Content-Type": "application/json"}, json.dumps(payload)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, re.compile(re.escape(ESIMGO_URL) + r"/catalogue.*"), callback=page)
        result = sync_catalog()
    print(
        f"catalogue: {Bundle.objects.filter(is_available=True).count()} bundles, "
        f"{Country.objects.filter(bundle_count__gt=0).count()} countries (synced in {result.seconds:.1f} s)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int, extra_env: dict) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [
            str(gunicorn),
            "esimshop.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **SERVER_ENV, **extra_env},
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return server
        except requests.ConnectionError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


BARE = "bare /healthz"
TARGET_RATIO = 2.0
CACHE_HEADER = "X-Storefront-Cache"


def timed_get(session, url, expect_cache) -> tuple[float, int]:
    started = time.perf_counter()
    response = session.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    if expect_cache and response.headers.get(CACHE_HEADER) != expect_cache:
        raise SystemExit(f"{url}: expected {CACHE_HEADER}: {expect_cache}, got {response.headers.get(CACHE_HEADER)!r}")
    return elapsed, len(response.content)


def run_pass(paths, args, *, cache_seconds: int, expect_cache: str) -> dict:
    """One server, the URLs timed round-robin. Returns {label: {first, timings, size}}."""
    port = free_port()
    server = start_server(port, args.workers, {"STOREFRONT_CACHE_SECONDS": str(cache_seconds)})
    base = f"http://127.0.0.1:{port}"
    results = {label: {"first": None, "timings": [], "size": 0} for label in paths}
    try:
        with requests.Session() as session:
            for label, path in paths.items():  # first hit of each URL in this process
                results[label]["first"], _ = timed_get(session, base + path, None)
            for _ in range(args.warmup):
                for path in paths.values():
                    session.get(base + path).raise_for_status()
            for _ in range(args.requests):
                for label, path in paths.items():
                    elapsed, size = timed_get(session, base + path, None if label == BARE else expect_cache)
                    results[label]["timings"].append(elapsed)
                    results[label]["size"] = size
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    return results


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def breakdown(paths, count):
    """In-process: where each URL's time goes (SQL, template rendering, the rest)."""
    from django.core.cache import cache
    from django.db import connection
    from django.template import base as template_base
    from django.test import Client

    sql = {"ms": 0.0, "count": 0}
    rendering = {"ms": 0.0, "depth": 0}

    def timed_sql(execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            sql["ms"] += (time.perf_counter() - started) * 1000
            sql["count"] += 1

    original_render = template_base.Template.render

    def timed_render(self, context):
        rendering["depth"] += 1
        started = time.perf_counter()
        try:
            return original_render(self, context)
        finally:
            rendering["depth"] -= 1
            if not rendering["depth"]:
                rendering["ms"] += (time.perf_counter() - started) * 1000

    template_base.Template.render = timed_render
    client = Client(SERVER_NAME="127.0.0.1")
    print(
        f"\nin-process (test client, no server), page cache emptied before each request, {count} requests "
        "per URL; means except the median"
    )
    print(f"{'URL':58} {'median ms':>10} {'queries':>8} {'SQL ms':>7} {'template ms':>12} {'rest ms':>8}")
    try:
        with connection.execute_wrapper(timed_sql):
            for label, path in paths.items():
                for _ in range(10):
                    cache.clear()
                    client.get(path)
                sql.update(ms=0.0, count=0)
                rendering["ms"] = 0.0
                timings = []
                for _ in range(count):
                    cache.clear()
                    started = time.perf_counter()
                    assert client.get(path).status_code == 200, path
                    timings.append((time.perf_counter() - started) * 1000)
                mean = sum(timings) / count
                print(
                    f"{label:58} {statistics.median(timings):10.2f} {sql['count'] / count:8.1f} "
                    f"{sql['ms'] / count:7.2f} {rendering['ms'] / count:12.2f} "
                    f"{mean - sql['ms'] / count - rendering['ms'] / count:8.2f}"
                )
    finally:
        template_base.Template.render = original_render


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests per URL")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn sync workers")
    parser.add_argument("--breakdown", action="store_true", help="profile in-process instead of benchmarking")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    fill_catalogue()
    mn_bundles = Bundle.objects.filter(is_available=True, coverage__country="MN")
    local = mn_bundles.filter(name__contains="_MN_").order_by("name").first()
    widest = max(mn_bundles, key=lambda b: b.coverage.count())
    paths = {
        "home /": "/",
        "countries A–Z": "/countries/",
        "country /countries/MN/": "/countries/MN/",
        "country, filtered+sorted": "/countries/MN/?unlimited=no&sort=per_gb",
        f"bundle {local.name}": f"/bundles/{local.name}/",
        f"bundle {widest.name} ({widest.coverage.count()} countries)": f"/bundles/{widest.name}/",
        "api /api/packages/?country=MN": "/api/packages/?country=MN",
        "bare /healthz": "/healthz",
    }
    print(f"{mn_bundles.count()} bundles on the Mongolia page")
    if args.breakdown:
        try:
            breakdown(paths, args.requests)
        finally:
            shutil.rmtree(TMP, ignore_errors=True)
        return

    try:
        cold = run_pass(paths, args, cache_seconds=0, expect_cache="miss")
        warm = run_pass(paths, args, cache_seconds=600, expect_cache="hit")
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    report(paths, cold, warm, args)


def report(paths, cold, warm, args):
    cold_bare = statistics.median(cold[BARE]["timings"])
    warm_bare = statistics.median(warm[BARE]["timings"])
    print(
        f"\ngunicorn, {args.workers} sync worker(s), DEBUG=False, SQLite, local-memory cache; "
        f"{args.requests} requests per URL per pass after {args.warmup} warm-up rounds, URLs interleaved, "
        f"loopback, Mongolian"
    )
    print(
        "cold = every request renders (page cache off: the first visitor after a catalogue change); "
        "warm = served from the page cache (a running shop)."
    )
    print("first hit = the URL's first request in a fresh server process (template compilation included).")
    print(f"target: warm page median <= {TARGET_RATIO:g}x the bare view's median in the same pass\n")
    header = (
        f"{'URL':50} {'first':>7} | {'cold med':>8} {'p95':>7} {'x bare':>6} | "
        f"{'warm med':>8} {'p95':>7} {'x bare':>6} | {'KB':>5}  target"
    )
    print(header)
    print("-" * len(header))
    passed = cold_passed = pages = 0
    for label in paths:
        c, w = cold[label]["timings"], warm[label]["timings"]
        cold_ratio = statistics.median(c) / cold_bare
        warm_ratio = statistics.median(w) / warm_bare
        if label == BARE:
            verdict = "(reference)"
        else:
            pages += 1
            passed += warm_ratio <= TARGET_RATIO
            cold_passed += cold_ratio <= TARGET_RATIO
            verdict = "PASS" if warm_ratio <= TARGET_RATIO else "MISS"
        print(
            f"{label[:50]:50} {warm[label]['first']:7.2f} | {statistics.median(c):8.2f} {p95(c):7.2f} "
            f"{cold_ratio:6.1f} | {statistics.median(w):8.2f} {p95(w):7.2f} {warm_ratio:6.1f} | "
            f"{warm[label]['size'] / 1024:5.1f}  {verdict}"
        )
    print(
        f"\nwarm: {passed}/{pages} storefront URLs within {TARGET_RATIO:g}x of the bare view "
        f"({'PASS' if passed == pages else 'MISS'}); cold: {cold_passed}/{pages} "
        "(rendering is only paid once per page, language and catalogue version)"
    )
    # Interleaved with rendering pages, the bare view itself is slower (GC, CPU caches): say so,
    # and give the cold ratios against the quieter warm-pass bare view as well.
    page_labels = [label for label in paths if label != BARE]
    against_warm = [statistics.median(cold[label]["timings"]) / warm_bare for label in page_labels]
    print(
        f"bare /healthz median: {cold_bare:.2f} ms in the cold pass, {warm_bare:.2f} ms in the warm pass; "
        f"cold pages against the warm-pass bare view: {min(against_warm):.1f}-{max(against_warm):.1f}x"
    )


if __name__ == "__main__":
    main()
