"""Kept-alive connections under production's gunicorn config (deploy/gunicorn.conf.py).

A server that closes an idle keep-alive connection at the moment its client sends the
next request on it makes that request fail with `ConnectionResetError(104)` (what the
load run saw on an upload): the client had already checked that the connection was
open. With gunicorn's old 5 s keep-alive, a client pausing 5-6 s between requests hit
that race. The server now keeps idle connections far longer than a client's pause."""

import socket
import time

from storage_site.testing.server import gunicorn_factory  # noqa: F401  (fixture)

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_connection_idle_for_seconds_still_serves_the_next_request(gunicorn_factory):  # noqa: F811
    server = gunicorn_factory(workers=1, threads=2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(REQUEST)
        assert _answer(sock).startswith(b"HTTP/1.1 200")
        # Longer than the old keep-alive plus gunicorn's 1 s poll: that server had closed it.
        time.sleep(7)
        sock.sendall(REQUEST)
        assert _answer(sock).startswith(b"HTTP/1.1 200")
