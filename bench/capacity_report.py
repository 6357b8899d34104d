"""Table rows and results.md notes for the capacity benchmarks (issue 14), used by bench/run_all.py:
capacity (bench/capacity.py), scale (bench/scale.py) and warm-pages (bench/warm_pages.py)."""

PURCHASES_TARGET, P95_TARGET_MS, OVERLOAD_MAX_MS, POLL_P95_TARGET_MS = 40, 1000, 3000, 100
CALLBACKS_TARGET, ESIMGO_TARGET, RSS_TARGET_MB, SCALE_TARGET, PAGE_TARGET = 100, 2, 200, 2.0, 2.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def capacity_rows(c: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    s30, s100, mixed, polls = c["30 shoppers"], c["100 shoppers"], c["30 shoppers + pollers"], c["polls"]
    for label, s in (("30 shoppers", s30), ("30 shoppers + 1,000 pollers", mixed)):
        ok = s["per_second"] >= PURCHASES_TARGET and s.get("p95_ms", 1e9) <= P95_TARGET_MS
        rows.append(
            (
                f"Purchases, providers at {c['provider_ms']} ms, {label}",
                f"{s['per_second']:.1f}/s, median {s.get('median_ms', 0):.0f} ms, p95 {s.get('p95_ms', 0):.0f} ms "
                f"(load {s['load']:.1f}; web CPU {s['web_cpu_share']:.2f} cores, {s['web_cpu_ms_per_answer']:.1f} ms/answer)",
                f">= {PURCHASES_TARGET}/s, p95 <= {P95_TARGET_MS / 1000:g} s",
                verdict(ok),
            )
        )
    statuses = s100["statuses"]
    fives = sum(n for code, n in statuses.items() if str(code).startswith("5") and str(code) != "503")
    rows.append(
        (
            "Purchases, 100 shoppers: slowest answer",
            f"{s100['max_ms']:.0f} ms; {s100['per_second']:.1f}/s created; 503s {statuses.get('503', 0)}, "
            f"other 5xx {fives} (load {s100['load']:.1f})",
            "<= 3 s, no 500",
            verdict(s100["max_ms"] <= OVERLOAD_MAX_MS and fives == 0),
        )
    )
    answered = {str(code): n for code, n in polls["statuses"].items()}
    not_ok = sum(n for code, n in answered.items() if code != "200")
    rows.append(
        (
            "Status polls of waiting shoppers (pay.js schedule) during 30 shoppers",
            f"p95 {polls['p95_ms']:.1f} ms, median {polls['median_ms']:.1f} ms, {polls['per_second']:.0f}/s "
            f"from {polls['pollers']} pollers; {answered.get('200', 0)} answered 200, {not_ok} not",
            f"p95 <= {POLL_P95_TARGET_MS} ms, >= 95% answered 200",
            # A poll that is not a 200 measures nothing (a 404 costs no database or cache read).
            verdict(polls["p95_ms"] <= POLL_P95_TARGET_MS and not_ok * 20 <= polls["answers"]),
        )
    )
    cb = c["callbacks"]
    rows.append(
        (
            f"Verified QPay callbacks/s, check at {c['check_ms']} ms, {cb['clients']} clients",
            f"{cb['per_second']:.0f}/s ({cb['per_second'] / cb['bare_per_second']:.2f}x the bare view's "
            f"{cb['bare_per_second']:.0f}/s; load {cb['load']:.1f})",
            f">= {CALLBACKS_TARGET}/s",
            verdict(cb["per_second"] >= CALLBACKS_TARGET),
        )
    )
    d = c["deliveries"]
    per = d["esimgo_per_delivered_path"] + d["esimgo_tags_per_delivered"]
    rows.append(
        (
            "eSIM Go requests per delivered eSIM (delivery side)",
            f"{d['esimgo_per_delivered_path']:.2f} on the delivery path + {d['esimgo_tags_per_delivered']:.2f} "
            f"customerRef tags sent in idle budget so far = {per:.2f}; validation "
            f"{c['validations_per_purchase']:.2f} per purchase (payments side)",
            f"<= {ESIMGO_TARGET}",
            verdict(d["esimgo_per_delivered_path"] + 1 <= ESIMGO_TARGET),
        )
    )
    rows.append(
        (
            "Deliveries/s at eSIM Go's real 9 req/s limit (Celery worker)",
            f"{d['per_second']:.1f}/s ({d['delivered']} of {d['paid']} in {d['seconds']:.0f} s)",
            "- (reported)",
            "-",
        )
    )
    b = c.get("deliveries during a purchase burst")
    if b and "deliveries_per_second" in b:
        rows.append(
            (
                f"Deliveries/s during a purchase burst, eSIM Go limiter at {b['limit_per_second']}/s shared by web + Celery "
                f"({b['reserved_percent']}% kept for provisioning; validation cache off: every purchase validates)",
                f"{b['deliveries_per_second']:.1f} deliveries/s while validations took {b['validations_per_second']:.1f}/s "
                f"(purchases {b['purchases_per_second']:.1f}/s, p95 {b.get('purchase_p95_ms', 0):.0f} ms); all eSIM Go "
                f"requests {b['esimgo_requests_per_second']:.1f}/s over {b['window_seconds']:.0f} s (load {b['load']:.1f})",
                f">= {b['limit_per_second'] - b['shopper_share_per_second']}/s (the reserved share), validations <= "
                f"{b['shopper_share_per_second']}/s, all <= {b['limit_per_second']}/s",
                verdict(
                    b["deliveries_per_second"] >= b["limit_per_second"] - b["shopper_share_per_second"]
                    and b["validations_per_second"] <= b["shopper_share_per_second"] + 0.5
                    and b["esimgo_requests_per_second"] <= b["limit_per_second"] + 0.5
                ),
            )
        )
    peaks = {
        **{f"gunicorn {pid}": mb for pid, mb in c["web_peak_rss_mb"].items()},
        **{f"celery {pid}": mb for pid, mb in d["celery_peak_rss_mb"].items()},
    }
    worst = max(peaks.values())
    rows.append(
        (
            "Peak RSS per gunicorn / Celery process",
            ", ".join(f"{name.split()[0]} {mb:.0f}" for name, mb in sorted(peaks.items())) + " MB",
            f"<= {RSS_TARGET_MB} MB each",
            verdict(worst <= RSS_TARGET_MB),
        )
    )
    return rows


def scale_rows(s: dict) -> list[tuple[str, str, str, str]]:
    return [
        (
            f"{s['big']:,} vs {s['small']:,} purchases: {r['operation']}",
            f"{r['ratio']:.2f}x ({r['big_ms']:.1f} vs {r['small_ms']:.1f} ms"
            + (
                f"; {r['big_pages']:,} vs {r['small_pages']:,} pages touched)"
                if r.get("big_pages") is not None
                else ")"
            ),
            f"<= {SCALE_TARGET:g}x",
            r["verdict"],
        )
        for r in s["rows"]
    ]


def warm_rows(w: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for r in w["rows"]:
        rows.append(
            (
                f"Storefront {r['path']}: warm / first visitor after a change / after a deploy vs bare",
                f"{r['warm_x']:.1f}x / {r['after change']['x']:.1f}x / {r['after deploy']['x']:.1f}x "
                f"(without warming: {r['no warming']['x']:.1f}x cold)",
                f"<= {PAGE_TARGET:g}x each",
                r["verdict"],
            )
        )
    return rows


def notes(results: dict) -> list[str]:
    lines = []
    if "capacity" in results:
        c = results["capacity"]
        lines += [
            f"- **Capacity** (`bench/capacity.py`): the Procfile's web line as bash runs it "
            f"(`{c['procfile_web']}`), DEBUG=False, PostgreSQL + Redis, QPay and eSIM Go answered in-process by "
            f"`bench/stub_providers.py` after {c['provider_ms']} ms (payment/check {c['check_ms']} ms); shoppers "
            "post purchases back to back (closed loop, own address each, Retry-After honoured after a 503); "
            "pollers follow pay.js's schedule with pages opened 0-5 min ago; callbacks from 32 client threads; a "
            "Celery worker with eSIM Go's limiter at 9/s delivers the paid orders, eSIM Go calls counted by the "
            "stub in Redis; peak RSS = VmHWM. The web server's eSIM Go limiter is off for the purchase load (with "
            "one validation per purchase at 9/s it would cap purchases at 9/s: the payments side's validation "
            "cache, issue 9, takes validation off that budget). `web CPU` is the CPU the server got: on a shared "
            "machine, next to the load average, it shows how far a figure was starved.",
            "",
        ]
    if "scale" in results:
        lines += [
            "- **Scale** (`bench/scale.py`): each size in its own throwaway database, migrated (the "
            "migrations' indexes), history generated by INSERT ... SELECT generate_series with indexes built "
            "after the load, plus the same 300 purchases of today in both; in process (admin via Django's test "
            "client as a superuser; reconciliation's own queries; the sweeps), median of 7 after 2 warm-ups. "
            "The EXPLAIN ANALYZE plan of each operation's slowest statement is in the bench output.",
            "",
        ]
    if "warm-pages" in results:
        lines += [
            "- **Warm pages** (`bench/warm_pages.py`): Procfile web server, PostgreSQL + Redis, the sandbox "
            "catalogue; the first visitor of each page after a price change + background warming, after the "
            "release step, and (for reference) after a plain version bump without warming.",
            "",
        ]
    return lines
