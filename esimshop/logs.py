"""Structured logs: one JSON object per line from web and Celery alike (LOG_FORMAT=console for
readable development lines).

Every stdlib record (ours, Django's, Celery's, gunicorn's) goes through structlog's
ProcessorFormatter, which adds the context bound for the current request or task: request_id,
invoice_id, order_id, task_id. The context travels from a web request into the Celery tasks it
enqueues as message headers (before_task_publish) and is bound again when the task starts
(task_prerun), so `grep <invoice id>` shows one purchase from the API call to the delivered eSIM.

Redaction (esimshop/log_redaction.py) still cleans each record when it is created; the last
processor here cleans every string of the final event too (bound values, formatted tracebacks).
"""

from __future__ import annotations

import json
import logging
import uuid

import structlog
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.conf import settings
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from esimshop.log_redaction import redact

# Context keys carried from a request into the tasks it enqueues (as Celery message headers).
PROPAGATED = ("request_id", "invoice_id", "order_id")
HEADER_PREFIX = "esimshop_"


def bind(**values) -> None:
    """Bind ids (str) to the current request's/task's log context; None values are ignored."""
    bind_contextvars(**{k: str(v) for k, v in values.items() if v not in (None, "")})


def new_request_id() -> str:
    return uuid.uuid4().hex


def _is_console_mail(event_dict) -> bool:
    """The same exception as log_redaction._is_console_mail: with the console e-mail backend
    (development) a worker's redirected stdout is the inbox, and a masked link would be useless."""
    return (
        event_dict.get("logger") == "celery.redirected"
        and settings.configured
        and settings.EMAIL_BACKEND.endswith("console.EmailBackend")
    )


def _redact_event(logger, method_name, event_dict):
    if _is_console_mail(event_dict):
        return event_dict
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
        elif not isinstance(value, (bool, int, float, type(None))):
            # Extras such as Django's `request` (a WSGIRequest whose repr holds the path) would be
            # rendered with repr() after this processor: render and clean them here instead.
            event_dict[key] = redact(value if isinstance(value, str) else _plain(value))
    return event_dict


def _plain(value) -> str:
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def _drop_color_message(logger, method_name, event_dict):
    event_dict.pop("color_message", None)  # uvicorn/celery duplicates of the message with ANSI codes
    return event_dict


def formatter(log_format: str) -> dict:
    """A dictConfig formatter entry for LOGGING["formatters"]."""
    pre_chain = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        tail = [_redact_event, renderer]
    else:
        tail = [structlog.processors.format_exc_info, _redact_event, structlog.processors.JSONRenderer()]
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": pre_chain,
        "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    }


def configure_structlog() -> None:
    """For code that logs through structlog.get_logger(): hand events to stdlib, formatted above."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# --- Celery: carry the context into tasks ---------------------------------------------------

_saved_context: dict[str, dict] = {}


@before_task_publish.connect
def _add_context_headers(sender=None, headers=None, **kwargs):
    if headers is None:
        return
    context = get_contextvars()
    for key in PROPAGATED:
        if context.get(key):
            headers[HEADER_PREFIX + key] = context[key]


def _header(task, key):
    request = task.request
    value = getattr(request, HEADER_PREFIX + key, None)
    if value is None and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(HEADER_PREFIX + key)
    return value


@task_prerun.connect
def _bind_task_context(sender=None, task_id=None, task=None, **kwargs):
    if task is None:
        return
    # Saved and restored, not just cleared: an eager task runs inside the request that enqueued
    # it, whose context must come back afterwards; a worker's next task starts from nothing.
    _saved_context[task_id] = get_contextvars()
    values = {"task_id": task_id, "task_name": task.name}
    for key in PROPAGATED:
        values[key] = _header(task, key)
    bind(**values)


@task_postrun.connect
def _unbind_task_context(sender=None, task_id=None, **kwargs):
    saved = _saved_context.pop(task_id, {})
    clear_contextvars()
    bind_contextvars(**saved)


logger = logging.getLogger(__name__)


def structured_formatter(log_format: str = "json"):
    """dictConfig factory ("()": "esimshop.logs.structured_formatter")."""
    configure_structlog()
    spec = formatter(log_format)
    factory = spec.pop("()")
    return factory(**spec)
