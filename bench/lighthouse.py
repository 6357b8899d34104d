"""Lighthouse (mobile) on the shopper pages: performance, accessibility, best practices, SEO.

    .venv/bin/python bench/lighthouse.py            # prints the table, exits 1 below target
    .venv/bin/python bench/lighthouse.py --only home plan
    .venv/bin/python bench/lighthouse.py --only country country-us region global --runs 3

Starts the shop like bin/run does (a throwaway SQLite database, in-process tasks, the built-in
sandbox providers, the catalogue synced over real HTTP from the sandbox eSIM Go, the plan page's
networks fetched, the popular pages warmed as production warms them after every sync), then runs the
npm `lighthouse` CLI (node_modules/, installed by bin/setup) against Debian's Chromium
(CHROME_PATH=/usr/bin/chromium) with its default mobile emulation and throttling. Target
(issue 13): >= 95 in every category; SEO only counts on indexable pages (checkout and search are
noindex on purpose). With --runs N every page is audited N times and every run must reach the
target (a score that passes only sometimes is a miss). Reports go to bench/out/lighthouse/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, answers, free_port, stop, tail  # noqa: E402

LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
OUT = ROOT / "bench" / "out" / "lighthouse"
TARGET = 95
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
# What the performance score is made of (Lighthouse's simulated mobile figures), printed per page.
METRICS = {
    "fcp": "first-contentful-paint",
    "lcp": "largest-contentful-paint",
    "tbt": "total-blocking-time",
    "cls": "cumulative-layout-shift",
    "si": "speed-index",
    "ttfb": "server-response-time",
}
PLAN_BUNDLE = "esim_1GB_7D_MN_V2"
# name -> (path, indexable)
PAGES = {
    "home": ("/", True),
    "countries": ("/countries/", True),
    "country": ("/countries/MN/", True),
    "country-us": ("/countries/US/", True),
    "region": ("/regions/europe/", True),
    "global": ("/regions/global/", True),
    "plan": (f"/bundles/{PLAN_BUNDLE}/", True),
    "help": ("/help/", True),
    "faq": ("/help/faq/", True),
    "install": ("/help/install/", True),
    "home-en": ("/?lang=en", True),
    "checkout": ("/checkout/esim_1GB_7D_MN_V2/", False),
}


def start_shop(workdir: Path, port: int, *, warm: bool = True) -> tuple[subprocess.Popen, dict]:
    env = {
        **os.environ,
        "DEBUG": "True",
        "SANDBOX": "True",  # the built-in sandbox providers, whatever the caller's shell says
        "DATABASE_URL": f"sqlite:///{workdir / 'lighthouse.sqlite3'}",
        "REDIS_URL": "",
        "CACHE_URL": f"filecache://{workdir / 'cache'}",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "ESIMSHOP_REQUIRE_SERVICES": "",
        # Warmed pages must outlive a whole run (production keeps them 600 s and re-warms after syncs).
        "STOREFRONT_CACHE_SECONDS": "7200" if warm else "30",
    }
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    log_path = workdir / "server.log"
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while not answers(f"http://127.0.0.1:{port}/healthz"):
        if server.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise SystemExit(f"the shop did not start:\n{tail(log_path)}")
        time.sleep(0.2)
    for command in (
        ["sync_catalog"],
        ["refresh_bundle_networks", "--bundle", PLAN_BUNDLE],
        # Production re-renders the popular pages after every sync (catalog/page_warming.py): a
        # shopper gets a stored page, so the audit does too.
        *([["expire_storefront_cache"]] if warm else []),
    ):
        try:
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError:
            stop(server)  # the caller never gets the server to stop
            raise
    return server, env


def run_lighthouse(url: str, report: Path) -> dict:
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={report}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu --no-first-run",
    ]
    for attempt in (1, 2):  # Chromium's start-up can time out on a loaded machine: one more try
        done = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, "CHROME_PATH": CHROME},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
        if done.returncode == 0:
            break
        print(f"lighthouse failed on {url} (attempt {attempt}):\n{done.stderr[-1500:]}", file=sys.stderr)
    else:
        raise SystemExit(f"lighthouse could not audit {url}")
    data = json.loads(report.read_text(encoding="utf-8"))
    scores = {name: round((data["categories"][name]["score"] or 0) * 100) for name in CATEGORIES}
    failing = sorted(
        (
            audit["id"]
            for audit in data["audits"].values()
            if audit.get("score") is not None and audit["score"] < 0.9 and audit.get("scoreDisplayMode") == "binary"
        ),
    )
    metrics = {
        key: round(data["audits"][audit].get("numericValue") or 0, 3 if key == "cls" else None)
        for key, audit in METRICS.items()
        if audit in data["audits"]
    }
    return {"scores": scores, "failing_audits": failing, "metrics": metrics}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=sorted(PAGES), help="audit only these pages")
    parser.add_argument("--runs", type=int, default=1, help="audit every page this many times (default 1)")
    parser.add_argument("--cold", action="store_true", help="no warming: every page's first audit renders it")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit(f"{LIGHTHOUSE} is missing: run bin/setup (npm ci installs lighthouse).")
    if not os.access(CHROME, os.X_OK):
        raise SystemExit(f"Chromium not found at {CHROME}: run bin/setup or set CHROME_PATH.")
    OUT.mkdir(parents=True, exist_ok=True)
    names = args.only or list(PAGES)
    results, server = {}, None
    with tempfile.TemporaryDirectory(prefix="esimshop-lighthouse-") as tmp:
        port = free_port()
        try:
            server, _env = start_shop(Path(tmp), port, warm=not args.cold)
            for run in range(1, args.runs + 1):
                for name in names:
                    path, indexable = PAGES[name]
                    key = name if args.runs == 1 else f"{name}#{run}"
                    results[key] = {
                        **run_lighthouse(f"http://127.0.0.1:{port}{path}", OUT / f"{key}.json"),
                        "path": path,
                        "indexable": indexable,
                    }
        finally:
            stop(server)
    return report(results)


def report(results: dict) -> int:
    header = f"{'page':<13} {'path':<34} " + " ".join(f"{c[:11]:>11}" for c in CATEGORIES)
    print(header)
    print("-" * len(header))
    misses = []
    for name, result in results.items():
        cells = []
        for category in CATEGORIES:
            score = result["scores"][category]
            counted = category != "seo" or result["indexable"]
            if counted and score < TARGET:
                misses.append(f"{name} {category} {score} (failing: {', '.join(result['failing_audits']) or '-'})")
            cells.append(f"{score:>10}{'' if counted else '*'}" if not counted else f"{score:>11}")
        figures = " ".join(f"{k}={v}" for k, v in result.get("metrics", {}).items())
        print(f"{name:<13} {result['path']:<34} " + " ".join(cells) + f"   {figures}")
    print(f"\ntarget >= {TARGET} in every category (* SEO not counted: a noindex page)")
    (OUT / "summary.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    if misses:
        print("MISS:\n  " + "\n  ".join(misses))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
