"""A WebDAV client over Django's test client (/dav/ is a Django view, so every
protocol rule can be checked without a server; tests/test_clients.py drives real
clients against a real one)."""

import base64
import re
import tracemalloc

from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from storage_site.testing.client import Client

PROPFIND_ALL = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


class Answer:
    def __init__(self, response):
        self.status = response.status_code
        self.headers = response
        self.body = b"".join(response.streaming_content) if response.streaming else response.content

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Dav:
    def __init__(self, login: str, password: str):
        self.client = Client()
        self.auth = basic(login, password)

    def request(self, method: str, path: str, body: bytes = b"", **headers) -> Answer:
        headers.setdefault("HTTP_AUTHORIZATION", self.auth)
        return Answer(self.client.generic(method, path, body, content_type=headers.pop("content_type",
                                                                                         "application/octet-stream"),
                                          **headers))

    def put(self, path, data: bytes, **headers):
        return self.request("PUT", path, data, **headers)

    def get(self, path, **headers):
        return self.request("GET", path, **headers)

    def mkcol(self, path):
        return self.request("MKCOL", path)

    def delete(self, path, **headers):
        return self.request("DELETE", path, **headers)

    def copy(self, path, dest, **headers):
        return self.request("COPY", path, HTTP_DESTINATION="http://testserver" + dest, **headers)

    def move(self, path, dest, **headers):
        return self.request("MOVE", path, HTTP_DESTINATION="http://testserver" + dest, **headers)

    def propfind(self, path, depth="1", body: bytes = PROPFIND_ALL):
        return self.request("PROPFIND", path, body, HTTP_DEPTH=depth, content_type="application/xml")

    def prop(self, path, name: str) -> str | None:
        """A property's text on `path` (depth 0), None when absent."""
        answer = self.propfind(path, "0")
        assert answer.status == 207, answer
        match = re.search(rf"<D:{name}>(.*?)</D:{name}>".encode(), answer.body, re.S)
        return match.group(1).decode() if match else None


def served_measured(environ) -> tuple[str, bytes, int, int]:
    """`environ` served by the whole application, as a server hands it over, its answer
    read piece by piece and dropped: (status, the first piece, the answer's size, the
    most the request held at once in bytes, as tracemalloc counts)."""
    started, first, size = [], None, 0
    request_started.disconnect(close_old_connections)  # keep the test's transaction, as the test client does
    request_finished.disconnect(close_old_connections)
    tracemalloc.start()
    try:
        answer = WSGIHandler()(environ, lambda status, headers: started.append(status))
        for piece in answer:
            first = piece if first is None else first
            size += len(piece)
        answer.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return started[0], first, size, peak
