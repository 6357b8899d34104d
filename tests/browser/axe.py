"""axe-core in the browser tests (issue 13): WCAG 2.1 A/AA rules, 0 critical and 0 serious.

axe.min.js comes from the npm package `axe-core`, installed by bin/setup into node_modules/
(gitignored; package.json pins the version). It is injected with page.add_script_tag, so the
page's CSP must be bypassed for it: browser contexts that run axe set bypass_csp=True (tests only).
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


def axe_source() -> Path:
    if not AXE_JS.is_file():
        pytest.fail(
            f"{AXE_JS} is missing: run bin/setup (it runs `npm ci` for axe-core and Lighthouse).", pytrace=False
        )
    return AXE_JS


def audit(page) -> list[dict]:
    """Run axe on the page as it is now; returns every violation (compact), any impact."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_source()))
    result = page.evaluate("options => axe.run(document, options)", RULES)
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def summary(results: dict) -> str:
    return json.dumps(results, ensure_ascii=False, indent=1)


def write_report(found: dict) -> Path:
    """test-artifacts/axe.json: per page, violations by impact (the figures in the closing note)."""
    out = ROOT / "test-artifacts" / "axe.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = {
        page: {
            impact: sum(1 for v in violations if v["impact"] == impact)
            for impact in ("critical", "serious", "moderate", "minor")
        }
        for page, violations in found.items()
    }
    out.write_text(summary({"counts": counts, "violations": found}), encoding="utf-8")
    return out
