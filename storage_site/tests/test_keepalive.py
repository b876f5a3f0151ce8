"""Kept-alive connections under production's gunicorn config (deploy/gunicorn.conf.py).

A server that closes an idle keep-alive connection at the moment its client sends the
next request on it makes that request fail with `ConnectionResetError(104)` (what the
load run saw on an upload): the client had already checked that the connection was
open. With gunicorn's old 5 s keep-alive, a client pausing 5-6 s between requests hit
that race. The server now keeps idle connections far longer than a client's pause."""

import http.client
import time

from storage_site.testing.server import gunicorn_factory  # noqa: F401  (fixture)


def test_a_connection_idle_for_seconds_still_serves_the_next_request(gunicorn_factory):  # noqa: F811
    server = gunicorn_factory(workers=1, threads=2)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/healthz")
    first = conn.getresponse()
    assert first.status == 200 and first.read()
    sock = conn.sock
    # Longer than the old keep-alive plus gunicorn's 1 s poll: that server had closed it,
    # and this request failed (http.client does not reconnect an open connection).
    time.sleep(7)
    conn.request("GET", "/healthz")
    second = conn.getresponse()
    assert second.status == 200 and second.read()
    assert conn.sock is sock  # the same connection served both
    conn.close()
