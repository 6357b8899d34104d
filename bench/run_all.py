#!/usr/bin/env python
"""All the benchmarks, one command: every ratio measured in the same run on the same machine.

    .venv/bin/python bench/run_all.py            # ~5 minutes on 2 cores; writes bench/results.md
    .venv/bin/python bench/run_all.py --full     # bigger samples (~15 minutes)
    .venv/bin/python bench/run_all.py --only purchase sync-sqlite --out /tmp/results.md

Needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL if set, else the local ones at
127.0.0.1:5432 and 127.0.0.1:6379/12): every benchmark creates and drops its own throwaway
databases and deletes its own Redis keys; db.sqlite3 is never touched. Runs, in order:

  pages          bench/pages.py             storefront pages vs a bare view (target <= 2x)
  purchase       bench/purchase.py          purchase API vs a bare view, same server (target <= 3x);
                                            verified QPay callbacks per second (reported)
  callback       bench/callback_to_esim.py  callback -> eSIM page ready (median <= 1 s, p99 <= 3 s)
  sync-sqlite    bench/sync_catalog.py      5,000-bundle catalogue sync, bulk vs per-row save (>= 10x)
  sync-postgres  bench/sync_catalog.py      the same on PostgreSQL
  capacity       bench/capacity.py          providers at 250 ms, Procfile web server: purchases/s and p95
                                            (30 and 100 shoppers), 1,000 pollers, callbacks/s, eSIM Go
                                            requests per eSIM, peak RSS (issue 14)
  warm-pages     bench/warm_pages.py        first visitor after a catalogue change / a deploy (<= 2x)
  scale          bench/scale.py             1k vs 1M purchases: searches, changelists, reconciliation,
                                            status, sweeps (<= 2x; ~6 minutes, --full only or --only)

Each one's own output is shown as it runs; then a table of every figure with its target and
PASS/MISS, and bench/results.md with the date, the machine and that table. Exit status: 0 when
every benchmark ran (a MISS is reported, not an error; --strict makes a MISS fail too).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.results_report import git_revision, print_table, table_rows, write_results  # noqa: E402

BENCHES = ("pages", "purchase", "callback", "sync-sqlite", "sync-postgres", "capacity", "warm-pages", "scale")
DEFAULT_BENCHES = BENCHES[:-1]  # scale generates a million rows: --full or --only


def sizes(full: bool) -> dict:
    return {
        "pages_requests": 1000 if full else 300,
        "purchases": 1000 if full else 300,
        "callbacks": 200 if full else 50,
        "bundles": 5000,
    }


def run(name: str, command: list[str], log_dir: Path) -> tuple[str, float]:
    """Run one benchmark, echoing its output (indented) and keeping it; returns (output, seconds)."""
    print(f"\n=== {name}: {' '.join(Path(c).name if c == sys.executable else c for c in command)}", flush=True)
    started = time.monotonic()
    lines = []
    with subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        for line in process.stdout:
            lines.append(line)
            if " INFO " not in line:  # the shop's own INFO log lines, forwarded by some benches
                print(f"  {line}", end="", flush=True)
    output = "".join(lines)
    (log_dir / f"{name}.log").write_text(output)
    if process.returncode:
        raise BenchFailed(f"{name} exited with status {process.returncode} (full output: {log_dir / f'{name}.log'})")
    return output, time.monotonic() - started


class BenchFailed(Exception):
    pass


# --- reading each benchmark's figures -------------------------------------------------------------

PAGES_ROW = re.compile(
    r"^(?P<label>.{50}) +(?P<first>[\d.]+) \| +(?P<cold>[\d.]+) +(?P<cold95>[\d.]+) +"
    r"(?P<coldx>[\d.]+) \| +(?P<warm>[\d.]+) +(?P<warm95>[\d.]+) +(?P<warmx>[\d.]+) \| +"
    r"(?P<kb>[\d.]+) +(?P<verdict>\S.*)$"
)


def read_pages(output: str) -> list[dict]:
    rows = [m.groupdict() for m in map(PAGES_ROW.match, output.splitlines()) if m]
    if not rows:
        raise BenchFailed("bench/pages.py: no result rows found in its output (has its table format changed?)")
    return [{**row, "label": row["label"].strip()} for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--full",
        action="store_true",
        help="bigger samples: 1,000 page requests per URL and purchases, 200 callback->eSIM iterations",
    )
    parser.add_argument(
        "--only", nargs="+", choices=BENCHES, metavar="NAME", help=f"run only these: {', '.join(BENCHES)}"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.md"), help="where to write the results")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    parser.add_argument(
        "--from-json",
        nargs="+",
        default=[],
        metavar="NAME=FILE",
        help="take a benchmark's figures from its own earlier --json-out run instead of running it "
        "(e.g. scale=/tmp/scale.json: the million-row bench takes minutes); said so in results.md",
    )
    args = parser.parse_args()
    chosen = args.only or list(BENCHES if args.full else DEFAULT_BENCHES)
    size = sizes(args.full)
    common.require_services()
    started = time.monotonic()
    load_start = os.getloadavg()
    log_dir = Path(tempfile.mkdtemp(prefix="esimshop-bench-run-"))
    py = sys.executable
    commands = {
        "pages": [py, "bench/pages.py", "--requests", str(size["pages_requests"])],
        "purchase": [
            py,
            "bench/purchase.py",
            "--purchases",
            str(size["purchases"]),
            "--json-out",
            str(log_dir / "purchase.json"),
        ],
        "callback": [
            py,
            "bench/callback_to_esim.py",
            "--n",
            str(size["callbacks"]),
            "--json-out",
            str(log_dir / "callback.json"),
        ],
        "sync-sqlite": [
            py,
            "bench/sync_catalog.py",
            "--bundles",
            str(size["bundles"]),
            "--database",
            "sqlite",
            "--json-out",
            str(log_dir / "sync-sqlite.json"),
        ],
        "sync-postgres": [
            py,
            "bench/sync_catalog.py",
            "--bundles",
            str(size["bundles"]),
            "--database",
            "postgres",
            "--json-out",
            str(log_dir / "sync-postgres.json"),
        ],
        "capacity": [
            py,
            "bench/capacity.py",
            "--seconds",
            "30" if args.full else "20",
            "--json-out",
            str(log_dir / "capacity.json"),
        ],
        "warm-pages": [py, "bench/warm_pages.py", "--json-out", str(log_dir / "warm-pages.json")],
        "scale": [py, "bench/scale.py", "--json-out", str(log_dir / "scale.json")],
    }
    results, failures = {}, []
    reused = dict(item.split("=", 1) for item in args.from_json)
    for name, file in reused.items():
        results[name] = json.loads(Path(file).read_text())
    for name in [n for n in chosen if n not in reused]:
        try:
            output, _ = run(name, commands[name], log_dir)
            results[name] = (
                read_pages(output) if name == "pages" else json.loads((log_dir / f"{name}.json").read_text())
            )
        except BenchFailed as exc:
            failures.append(str(exc))
            print(f"  !! {exc}", flush=True)
    rows = table_rows(results, args)
    minutes = (time.monotonic() - started) / 60
    machine = common.machine_description()
    flags = "".join(f" {a}" for a in sys.argv[1:])
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": git_revision(),
        "minutes": minutes,
        "flags": flags,
        "load_start": f"{load_start[0]:.2f}",
        "load_end": f"{os.getloadavg()[0]:.2f}",
        "reused": sorted(reused),
    }
    if rows:
        print_table(rows)
        write_results(Path(args.out), rows, results, machine, meta)
        print(f"\nwritten: {args.out}  (benchmark logs: {log_dir}; {minutes:.1f} minutes)")
    for failure in failures:
        print(f"FAILED: {failure}")
    missed = [r for r in rows if r[3] == "MISS"]
    if failures or (args.strict and missed):
        sys.exit(1)


if __name__ == "__main__":
    main()
