"""Celery tasks have explicit names, and every periodic task is in esimshop/beat.py (issue 11).

Names are part of the wire: a message in the broker names its task, and beat names the task it
sends, so renaming or moving a function must not rename a task silently.
"""

import ast
from pathlib import Path

import pytest

from esimshop.beat import beat_schedule
from esimshop.celery import app

ROOT = Path(__file__).resolve().parent.parent
SHOP_PACKAGES = ("catalog", "esimshop", "integrations", "ops", "orders", "payments", "shopinfo", "staff", "telegram")
TASK_DECORATORS = {"shared_task", "task"}


def shop_modules():
    for package in SHOP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def task_decorators(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
                if name in TASK_DECORATORS:
                    yield node.name, decorator


def test_every_task_declares_its_name():
    unnamed = []
    for path in shop_modules():
        for function, decorator in task_decorators(ast.parse(path.read_text(encoding="utf-8"))):
            keywords = {k.arg for k in decorator.keywords} if isinstance(decorator, ast.Call) else set()
            if "name" not in keywords:
                unnamed.append(f"{path.relative_to(ROOT)}: {function}")
    assert unnamed == []


def test_the_shop_has_tasks_to_check():
    found = [f for path in shop_modules() for f, _ in task_decorators(ast.parse(path.read_text(encoding="utf-8")))]
    assert len(found) >= 20


@pytest.mark.parametrize("entry", sorted(beat_schedule()), ids=str)
def test_every_scheduled_task_exists(entry):
    app.loader.import_default_modules()
    assert beat_schedule()[entry]["task"] in app.tasks


def test_periodic_tasks_are_scheduled_only_in_beat():
    others = []
    for path in shop_modules():
        if path in (ROOT / "esimshop" / "beat.py", ROOT / "esimshop" / "celery.py"):  # the schedule, its hook-up
            continue
        text = path.read_text(encoding="utf-8")
        if "add_periodic_task" in text or "beat_schedule =" in text or "CELERY_BEAT_SCHEDULE" in text:
            others.append(str(path.relative_to(ROOT)))
    assert others == []
