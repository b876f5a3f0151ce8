"""Structured logs: one JSON object per line, each carrying the request id.

The request id lives in a context variable set by `RequestIdMiddleware` (web) or
by the Celery signals below (workers: the id of the request that queued the task,
else the task id), so every log line of one request or task can be found with one
grep, across the web process and the workers.
"""

import contextvars
import json
import logging
import traceback
from datetime import datetime, timezone

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

REQUEST_ID_HEADER = "X-Request-ID"

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged too.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "taskName"}


def request_id() -> str:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Stamps `record.request_id` (for text formats too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", ...extra, "exception"?}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


# --- Celery: carry the id from the request that queued a task into the worker ------------

def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(_stamp_headers, weak=False, dispatch_uid="stratus-request-id-publish")
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="stratus-request-id-prerun")
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid="stratus-request-id-postrun")


def _stamp_headers(headers=None, **kwargs):
    current = request_id_var.get()
    if headers is not None and current != "-":
        headers.setdefault("request_id", current)


_task_tokens: dict[str, contextvars.Token] = {}


def _task_started(task_id=None, task=None, **kwargs):
    origin = getattr(task.request, "request_id", None) if task is not None else None
    if origin is None and task is not None:  # eager tasks inherit the caller's context
        origin = request_id_var.get() if request_id_var.get() != "-" else None
    _task_tokens[task_id] = request_id_var.set(origin or task_id or "-")


def _task_finished(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context; nothing to restore
            pass
