"""Load generators for bench/capacity.py: closed-loop shoppers, waiting shoppers polling their
payment status on the payment page's schedule, and a peak-RSS reader for server processes.

Nothing here imports Django. Each shopper/poller thread keeps one requests.Session (keep-alive,
as a browser does); every answer is recorded as (start, seconds, HTTP status).
"""

from __future__ import annotations

import heapq
import itertools
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# payments/static/payments/pay.js: 3 s for the first minute, then 1.5x per poll up to 15 s.
POLL_FAST_SECONDS, POLL_FAST_FOR_SECONDS, POLL_GROWTH, POLL_MAX_SECONDS = 3.0, 60.0, 1.5, 15.0


def poll_schedule(age: float) -> float:
    """Seconds until the next poll of a page opened `age` seconds ago (pay.js's nextDelay)."""
    if age < POLL_FAST_FOR_SECONDS:
        return POLL_FAST_SECONDS
    delay, elapsed = POLL_FAST_SECONDS, POLL_FAST_FOR_SECONDS
    while elapsed < age and delay < POLL_MAX_SECONDS:
        delay = min(POLL_MAX_SECONDS, delay * POLL_GROWTH)
        elapsed += delay
    return delay


@dataclass
class Answers:
    rows: list = field(default_factory=list)  # (started, seconds, status)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, started, seconds, status):
        with self.lock:
            self.rows.append((started, seconds, status))

    def between(self, start, end):
        return [row for row in self.rows if start <= row[0] < end]


def shoppers(
    *,
    site: str,
    count: int,
    seconds: float,
    body_for,
    address_for,
    answers: Answers,
    start_index: int = 0,
    honour_retry_after: bool = True,
) -> list:
    """`count` shoppers, each posting purchases back to back for `seconds` (closed loop: the next
    purchase after the answer; after a 503 the shopper waits Retry-After, as the page tells them).
    Returns the created invoices (JSON of each 201)."""
    import requests

    url = f"{site}/api/customer/transactions/purchase"
    numbers = itertools.count(start_index)
    lock = threading.Lock()
    created = []
    deadline = time.monotonic() + seconds

    def shopper():
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                i = next(numbers)
            started = time.monotonic()
            try:
                response = session.post(url, json=body_for(i), headers={"X-Forwarded-For": address_for(i)}, timeout=60)
                status = response.status_code
            except requests.RequestException:
                response, status = None, 0
            answers.add(started, time.monotonic() - started, status)
            if status == 201:
                with lock:
                    created.append(response.json())
            elif status in (429, 503) and honour_retry_after:
                time.sleep(float(response.headers.get("Retry-After") or 1))
            session.cookies.clear()

    threads = [threading.Thread(target=shopper, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return created


class Pollers:
    """`len(urls)` waiting shoppers polling their status URL on pay.js's schedule, each page
    opened a random 0-`max_age` seconds ago (a crowd of shoppers at different points of paying).
    A scheduler thread hands due polls to `clients` sender threads (keep-alive sessions)."""

    def __init__(self, urls, *, clients: int = 48, max_age: float = 300.0, seed: int = 14):
        self.urls = urls
        self.clients = clients
        self.answers = Answers()
        self.late = []  # seconds each poll was sent after its due time (the load generator's own lag)
        self._stop = threading.Event()
        rng = random.Random(seed)
        now = time.monotonic()
        self._opened = [now - rng.uniform(0, max_age) for _ in urls]
        self._heap = [(now + rng.uniform(0, poll_schedule(now - opened)), i) for i, opened in enumerate(self._opened)]
        heapq.heapify(self._heap)
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self):
        import requests

        local = threading.local()

        def send(i, due):
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            started = time.monotonic()
            self.late.append(started - due)
            try:
                status = session.get(self.urls[i], timeout=30).status_code
            except requests.RequestException:
                status = 0
            self.answers.add(started, time.monotonic() - started, status)

        with ThreadPoolExecutor(self.clients) as pool:
            while not self._stop.is_set():
                due, i = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._stop.wait(min(wait, 0.05))
                    continue
                heapq.heapreplace(self._heap, (due + poll_schedule(time.monotonic() - self._opened[i]), i))
                pool.submit(send, i, due)


# --- memory -------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM) in MB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def process_tree_peaks(root_pid: int) -> dict[int, float]:
    """Peak RSS of a server's master and every worker under it (read before stopping it)."""
    peaks = {}
    for pid in [root_pid, *children(root_pid)]:
        for one in [pid, *children(pid)] if pid != root_pid else [pid]:
            value = peak_rss_mb(one)
            if value is not None:
                peaks[one] = value
    return peaks


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root_pid: int) -> float:
    return sum(cpu_seconds(pid) for pid in [root_pid, *children(root_pid)])
