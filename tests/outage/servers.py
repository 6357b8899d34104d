"""Private PostgreSQL and Redis servers for the outage suite, on free ports, in a temp dir: they
can be killed and restarted; the shared servers (127.0.0.1:5432, :6379) are never touched.

PostgreSQL refuses to run as root, so when the suite runs as root the server runs as the
`postgres` system user (runuser); as any other user it runs as that user.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("ESIMSHOP_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} not {'up' if up else 'down'} after {timeout}s")


class PostgresServer:
    def __init__(self, root: Path):
        # Not under `root` (pytest's tmp dirs are 0700 to their owner): the postgres user must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="esimshop-outage-pg-"))
        self.data, self.log = self.dir / "data", self.dir / "postgres.log"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            entry = pwd.getpwnam("postgres")
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def _run(self, *args, check=True):
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120)
        if check and result.returncode:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stdout[-1500:]} {result.stderr[-1500:]}"
            )
        return result

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
        )

    def restart(self) -> float:
        """A fast restart (what an upgrade or a crash-restart does to clients). Returns seconds down."""
        started = time.monotonic()
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100",
        )
        return time.monotonic() - started

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    def __init__(self, root: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="redis-", dir=root))
        self.port = free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # No persistence: a restart loses every queued and scheduled Celery message, the worst case.
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=open(self.dir / "redis.log", "a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_port(self.port, 20)

    def kill(self) -> None:
        """SIGKILL: Redis is gone at once, with everything in it."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        wait_port(self.port, 10, up=False)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
