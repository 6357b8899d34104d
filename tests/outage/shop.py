"""The shop as production runs it, for the outage suite: gunicorn, the two Procfile workers
(`worker` -Q celery and `provisioning` -Q provisioning) and beat, each in its own process group,
restarted when they exit (what a Procfile platform or systemd Restart=always does); plus a second
gunicorn serving the sandbox providers from their own database.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

WORKERS = {
    # Procfile process name -> celery arguments (same queues and node names as the Procfile).
    "worker": ["-Q", "celery", "-n", "worker@%h", "--concurrency", "2"],
    "provisioning": ["-Q", "provisioning", "-n", "provisioning@%h", "--concurrency", "1"],
}


class Supervised:
    """One long-running process, restarted when it exits (not when we stop it)."""

    def __init__(self, name: str, argv: list, env: dict, log: Path):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.process = None
        self.starts = 0
        self.exits = []  # return codes of exits we did not ask for (SIGKILL included)
        self.stopping = False

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "a") as out:
            out.write(f"\n=== start #{self.starts} at {time.strftime('%H:%M:%S')} ===\n")
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log, "a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group: parent and pool children die mid-task."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def check(self) -> None:
        if self.stopping or self.process is None or self.process.poll() is None:
            return
        self.exits.append(self.process.returncode)
        self.start()

    def stop(self) -> None:
        self.stopping = True
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass


class Shop:
    def __init__(self, env: dict, providers_env: dict, logs: Path, shop_port: int, providers_port: int):
        self.logs = logs
        gunicorn = [
            PYTHON,
            "-m",
            "gunicorn",
            "esimshop.wsgi",
            "--worker-class",
            "gthread",
            "--timeout",
            "60",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
            "--access-logformat",
            "%(s)s %(m)s %(U)s",
        ]
        # No control socket: its default path is one per user, and two gunicorns would collide on it.
        self.web = Supervised(
            "web",
            [
                *gunicorn,
                "--no-control-socket",
                "--bind",
                f"127.0.0.1:{shop_port}",
                "--workers",
                "1",
                "--threads",
                "8",
                "--access-logfile",
                str(logs / "web-access.log"),
            ],
            env,
            logs / "web.log",
        )
        self.providers = Supervised(
            "providers",
            [
                *gunicorn,
                "--no-control-socket",
                "--bind",
                f"127.0.0.1:{providers_port}",
                "--workers",
                "1",
                "--threads",
                "12",
                "--access-logfile",
                str(logs / "providers-access.log"),
            ],
            providers_env,
            logs / "providers.log",
        )
        celery = [PYTHON, "-m", "celery", "-A", "esimshop"]
        self.workers = {
            name: Supervised(
                name,
                [*celery, "worker", "--loglevel", "INFO", "--without-gossip", "--without-mingle", *args],
                env,
                logs / f"{name}.log",
            )
            for name, args in WORKERS.items()
        }
        self.beat = Supervised(
            "beat",
            [*celery, "beat", "--loglevel", "INFO", "-s", str(logs / "celerybeat-schedule")],
            env,
            logs / "beat.log",
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, daemon=True)

    @property
    def all(self) -> list:
        return [self.providers, self.web, *self.workers.values(), self.beat]

    def start(self) -> None:
        for process in self.all:
            process.start()
        self._thread.start()

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            for process in self.all:
                process.check()

    def stop(self) -> None:
        self._stop.set()
        for process in self.all:
            process.stop()

    def log_text(self, name: str) -> str:
        path = self.logs / name
        return path.read_text(errors="replace") if path.exists() else ""
