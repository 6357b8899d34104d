"""No silent stall: a Celery worker whose consumer crashed exits, so its supervisor restarts it.

kombu 5.7.0 (the newest release) can crash the worker's consumer when Redis drops
("Unrecoverable error: AttributeError(\"'NoneType' object has no attribute 'hostname'\")", from
Connection.release -> channel close -> restore_unacked_once). Celery then starts a warm
shutdown, which with Redis still down can wait forever: the process neither works nor exits, so
neither the Procfile platform nor systemd (Restart=always) restarts it. The outage suite saw it.

This handler watches for that one log record and, if the process is still alive
WORKER_UNRECOVERABLE_EXIT_SECONDS later, exits it hard (exit code 1). Nothing is lost: tasks are
acks_late (re-delivered), and the sweeps re-enqueue whatever was in flight.
"""

import logging
import os
import sys
import threading

from celery.signals import worker_ready
from celery.utils.log import worker_logger
from django.conf import settings

logger = logging.getLogger(__name__)


class ExitAfterUnrecoverableError(logging.Handler):
    def __init__(self, seconds: float):
        super().__init__(level=logging.CRITICAL)
        self.seconds = seconds
        self.armed = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.armed or not str(record.msg).startswith("Unrecoverable error"):
            return
        self.armed = True
        timer = threading.Timer(self.seconds, _exit_now)
        timer.daemon = True
        timer.start()


def _exit_now() -> None:
    logger.critical("worker still shutting down after an unrecoverable error; exiting for the supervisor to restart it")
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):  # structlog prints to stdout itself; os._exit flushes nothing
        stream.flush()
    os._exit(1)


@worker_ready.connect
def _install(sender=None, **kwargs):
    seconds = float(settings.WORKER_UNRECOVERABLE_EXIT_SECONDS)
    # On the logger Celery's worker really logs "Unrecoverable error" with (celery.utils.log.worker_logger,
    # named "celery.worker"): a handler on "celery.worker.worker", a child, never saw the record, so
    # the hung worker was not exited (the outage suite's redis_down phase timed out on it).
    worker_logger.addHandler(ExitAfterUnrecoverableError(seconds))
