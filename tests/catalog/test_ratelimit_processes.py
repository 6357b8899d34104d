"""The eSIM Go limiter holds across processes: three OS processes, each with its own limiter
(as gunicorn and Celery workers have), share one budget through Redis."""

import json
import math
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent.parent
LIMIT = 5
PROCESSES = 3
ACQUISITIONS = 8

CHILD = f"""
import json, sys, time
import django
django.setup()
from integrations.esimgo.ratelimit import SharedRateLimiter

last = []
def clock():
    last.append(time.time())
    return last[-1]

limiter = SharedRateLimiter({LIMIT}, clock=clock, use_cache=True)
print("ready", flush=True)
sys.stdin.readline()  # everyone starts together
windows = []
for _ in range({ACQUISITIONS}):
    limiter.acquire()
    windows.append(int(last[-1]))  # the window the granted slot was counted in
print(json.dumps(windows), flush=True)
"""


@pytest.mark.skipif(not settings.REDIS_URL, reason="the shared counter lives in Redis")
def test_three_processes_never_exceed_the_limit_in_any_second():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "esimshop.settings",
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"test-limiter-{uuid.uuid4().hex}",
        "PYTHONPATH": str(ROOT),
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD], cwd=ROOT, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(PROCESSES)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        windows = [json.loads(child.stdout.readline()) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    per_window = Counter(w for child_windows in windows for w in child_windows)
    assert sum(per_window.values()) == PROCESSES * ACQUISITIONS
    assert max(per_window.values()) <= LIMIT, per_window
    # Unshared limiters would each finish in 2 windows; one shared budget needs at least 5.
    assert len(per_window) >= math.ceil(PROCESSES * ACQUISITIONS / LIMIT)
