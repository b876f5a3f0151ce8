"""The web server's own limits, as production runs it (gunicorn with
deploy/gunicorn.conf.py): an oversized request line or header block is refused before
the app sees it, and the server goes on serving. Bodies are the app's business (413s in
each upload's tests)."""

import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(port: int, head: bytes) -> int:
    """Send a request head; the status code of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b"\r\n")
        answer = b""
        while b"\r\n" not in answer and (data := sock.recv(4096)):
            answer += data
    return int(answer.split(b" ", 2)[1])


def _get(path: str, *headers: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close", ""]).encode()


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("server")
    env = {**os.environ, "HOST": "127.0.0.1", "WEB_PORT": str(port), "WEB_CONCURRENCY": "1", "WEB_THREADS": "2",
           "DATA_DIR": str(data_dir), "STORAGE_BACKEND": "local"}
    with open(data_dir / "gunicorn.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                    "storage_site.wsgi"], cwd=settings.BASE_DIR, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _status(port, _get("/healthz")) == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, \
                (data_dir / "gunicorn.log").read_text()[-2000:]
            time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_oversized_header_is_431_and_the_server_goes_on(gunicorn):
    assert _status(gunicorn, _get("/healthz", "X-Padding: " + "a" * 65536)) == 431
    assert _status(gunicorn, _get("/healthz")) == 200


def test_too_many_header_fields_is_431(gunicorn):
    assert _status(gunicorn, _get("/healthz", *(f"X-Field-{n}: x" for n in range(150)))) == 431
    assert _status(gunicorn, _get("/healthz")) == 200


def test_an_oversized_request_line_is_414(gunicorn):
    assert _status(gunicorn, _get("/api/search?q=" + "a" * 20000)) == 414
    assert _status(gunicorn, _get("/healthz")) == 200
