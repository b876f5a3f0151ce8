"""gunicorn settings for `make stack` and production: threaded workers (uploads and
downloads stream, so a worker spends its time waiting on sockets), logs as JSON lines
through the project's formatter, no access log (the app's own access line carries the
request id)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, before the app loads
from storage_site.core.memory import malloc_release, malloc_tune  # noqa: E402

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('WEB_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))  # a stalled request, not a long transfer: bytes keep it alive
graceful_timeout = 20
# Idle keep-alive connections stay open well beyond any pause a client makes between two
# requests: a server that closes one just as the client sends on it (5 s: a client
# idling 5-6 s) answers that request with a connection reset. Idle connections wait in
# the gthread poller, not in a thread. nginx's default; behind a load balancer, keep
# this above the balancer's own idle timeout.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "75"))
# Several web processes (`honcho start -c web=2`, or systemd instances) share the port.
reuse_port = True
# Request heads: gunicorn's defaults, stated (414 / 431 before the app sees the request;
# storage_site/tests/test_server_limits.py holds them).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
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


malloc_tune()  # inherited by the workers through fork


def post_request(worker, req, environ, resp):
    """After a large body in or out, give back the memory malloc keeps: freed blocks in
    the middle of its heaps stay resident otherwise, and the next large transfer would
    start from there."""
    large = 1024 * 1024  # a body read through gunicorn's 1 MiB buffers, a chunk of a chunked upload
    if int(environ.get("CONTENT_LENGTH") or 0) >= large or (getattr(resp, "response_length", None) or 0) >= large:
        malloc_release()
