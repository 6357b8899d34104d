"""A worker whose consumer crashed ("Unrecoverable error") exits after a short grace instead of
hanging in its warm shutdown (esimshop/worker_exit.py): its supervisor then restarts it."""

import logging
import time
from unittest import mock

from esimshop import worker_exit


def test_the_unrecoverable_error_record_arms_an_exit_and_nothing_else_does():
    handler = worker_exit.ExitAfterUnrecoverableError(0.01)
    record = logging.LogRecord("celery.worker.worker", logging.CRITICAL, __file__, 1, "Some other error", (), None)
    with mock.patch.object(worker_exit.os, "_exit") as exit_, mock.patch.object(worker_exit.logging, "shutdown"):
        handler.handle(record)
        assert not handler.armed
        crash = logging.LogRecord(
            "celery.worker.worker",
            logging.CRITICAL,
            __file__,
            1,
            "Unrecoverable error: %r",
            (AttributeError("'NoneType' object has no attribute 'hostname'"),),
            None,
        )
        handler.handle(crash)
        assert handler.armed
        for _ in range(200):
            if exit_.called:
                break
            time.sleep(0.01)
    exit_.assert_called_once_with(1)


def test_the_handler_hears_the_record_on_the_logger_celery_really_uses(settings):
    """Celery logs "Unrecoverable error" through celery.utils.log.worker_logger ("celery.worker");
    the installed handler must be on that logger, not on a child that never sees the record."""
    from celery.utils.log import worker_logger

    settings.WORKER_UNRECOVERABLE_EXIT_SECONDS = 0.05
    before = list(worker_logger.handlers)
    with mock.patch.object(worker_exit.os, "_exit") as exit_, mock.patch.object(worker_exit.logging, "shutdown"):
        worker_exit._install()
        try:
            (installed,) = [h for h in worker_logger.handlers if h not in before]
            worker_logger.critical(
                "Unrecoverable error: %r", AttributeError("'NoneType' object has no attribute 'hostname'")
            )
            assert installed.armed
            for _ in range(2000):
                if exit_.called:
                    break
                time.sleep(0.01)
        finally:
            worker_logger.handlers[:] = before
    exit_.assert_called_once_with(1)
