"""Every Mongolian catalogue in the project: no translation repeated twice in one msgstr
(a slip that once showed shoppers the same sentence twice on the payment page)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = sorted(p for p in ROOT.glob("**/locale/mn/LC_MESSAGES/django.po") if ".venv" not in p.parts)


def _msgstrs(path):
    text = path.read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        match = re.search(r'^msgstr ((?:".*"\n?)+)', block, flags=re.M)
        if match:
            yield "".join(re.findall(r'"(.*)"', match.group(1)))


def test_there_are_catalogues_to_check():
    assert len(CATALOGUES) >= 4


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_translation_is_doubled(path):
    doubled = [s for s in _msgstrs(path) if len(s) > 20 and s[: len(s) // 2] == s[len(s) // 2 :]]
    assert doubled == []
