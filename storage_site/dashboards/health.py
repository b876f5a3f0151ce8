"""Is each part of the stack reachable? Used by /readyz and the admin's system stats.

Every check answers `{"status": "ok" | "error" | "not configured", "latencyMs": ..,
"detail": ..}` and never raises. Network checks run in threads with a deadline
(`HEALTH_CHECK_TIMEOUT`), so a hung S3 or broker makes the answer late by at most
that, never forever.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.db import connection

from storage_site.celery import app as celery_app
from storage_site.core import storage

logger = logging.getLogger(__name__)

OK, ERROR, NOT_CONFIGURED = "ok", "error", "not configured"

# Shared, small: a hung dependency cannot pile up threads past this.
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


class _NotConfigured(Exception):
    pass


def _timeout() -> float:
    return settings.HEALTH_CHECK_TIMEOUT


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _storage() -> None:
    storage.reachable()


def _broker() -> None:
    if not settings.CELERY_BROKER_URL:
        raise _NotConfigured("no CELERY_BROKER_URL: tasks run in the web process")
    with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=_timeout())


def _workers() -> dict:
    if not settings.CELERY_BROKER_URL:
        raise _NotConfigured("no CELERY_BROKER_URL: tasks run in the web process")
    with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        answers = celery_app.control.inspect(timeout=min(1.0, _timeout()), connection=conn).ping() or {}
    if not answers:
        raise RuntimeError("no worker answered a ping")
    return {"count": len(answers), "names": sorted(answers)}


def _run(check) -> dict:
    started = time.monotonic()
    try:
        extra = check() or {}
        status, detail = OK, None
    except _NotConfigured as exc:
        extra, status, detail = {}, NOT_CONFIGURED, str(exc)
    except Exception as exc:  # a health check reports, it never fails the request
        extra, status, detail = {}, ERROR, f"{type(exc).__name__}: {exc}"[:300]
    result = {"status": status, "latencyMs": round((time.monotonic() - started) * 1000, 1), **extra}
    if detail:
        result["detail"] = detail
    return result


def _run_all(checks: dict) -> dict:
    """The database in this thread (its connection belongs to the request); the
    rest in parallel threads, each given until the deadline."""
    futures = {name: _pool.submit(_run, check) for name, check in checks.items() if name != "database"}
    results = {"database": _run(checks["database"])} if "database" in checks else {}
    deadline = time.monotonic() + _timeout()
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = {"status": ERROR, "latencyMs": round(_timeout() * 1000, 1),
                             "detail": f"no answer within {_timeout()}s"}
    for name, result in results.items():
        if result["status"] == ERROR:
            logger.warning("health check %s failed: %s", name, result.get("detail"))
    return {name: results[name] for name in checks}


def readiness() -> tuple[bool, dict]:
    """Database, storage and broker. Ready when none of them is in error ("not
    configured" is fine: the embedded default has no broker)."""
    checks = _run_all({"database": _database, "storage": _storage, "broker": _broker})
    return all(check["status"] != ERROR for check in checks.values()), checks


def system_health() -> dict:
    """Readiness plus the Celery workers that answer a ping."""
    return _run_all({"database": _database, "storage": _storage, "broker": _broker, "workers": _workers})
