"""gunicorn settings for `make stack` and production: threaded workers (uploads and
downloads stream, so a worker spends its time waiting on sockets), logs as JSON lines
through the project's formatter, no access log (the app's own access line carries the
request id)."""

import ctypes
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('WEB_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))  # a stalled request, not a long transfer: bytes keep it alive
graceful_timeout = 20
keepalive = 5
# Several web processes (`honcho start -c web=2`, or systemd instances) share the port.
reuse_port = True
control_socket_disable = True
accesslog = None

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "storage_site.core.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "storage_site.core.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": "json"}},
    "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc has both
        return libc
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return None


_libc = _glibc()
if _libc is not None:
    # glibc malloc settings for the workers (inherited through fork). With the defaults a
    # large upload costs a page fault per 4 KiB several times over: gunicorn's 1 MiB
    # read-ahead buffers are mmapped, or trimmed off the heap and faulted in again, on
    # every read (~2x the CPU of an upload; 1,000,000 faults per GiB, now ~30,000). Here
    # blocks up to 4 MiB come from the heap, which keeps up to 4 MiB free at its top;
    # larger blocks (S3 parts) are mappings of their own, returned when freed; two arenas
    # for all threads. MALLOC_* variables, when set, win.
    _m_trim_threshold, _m_mmap_threshold, _m_arena_max = -1, -3, -8
    _libc.mallopt(_m_mmap_threshold, int(os.environ.get("MALLOC_MMAP_THRESHOLD_", 4 * 1024 * 1024)))
    _libc.mallopt(_m_trim_threshold, int(os.environ.get("MALLOC_TRIM_THRESHOLD_", 4 * 1024 * 1024)))
    _libc.mallopt(_m_arena_max, int(os.environ.get("MALLOC_ARENA_MAX", 2)))


def post_request(worker, req, environ, resp):
    """After a large body in or out, give back the memory malloc keeps: freed blocks in
    the middle of its heaps stay resident otherwise, and the next large transfer would
    start from there."""
    large = 8 * 1024 * 1024
    if _libc is not None and (int(environ.get("CONTENT_LENGTH") or 0) > large or
                              (getattr(resp, "response_length", None) or 0) > large):
        _libc.malloc_trim(0)
