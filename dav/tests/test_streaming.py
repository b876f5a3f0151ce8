"""A PUT is read as it arrives: the server never holds a body whole (the body here is
made on the fly, so whatever memory the request takes is the server's)."""

import hashlib

import pytest
from django.test import RequestFactory

from folders.models import Node

from .helpers import basic, served_measured

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024


class _Body:
    """`size` bytes made as they are read, hashed on the way."""

    def __init__(self, size: int):
        self.left, self.digest = size, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = bytes([self.left % 251]) * size
        self.left -= size
        self.digest.update(data)
        return data

    readline = read  # a WSGI input has it; nothing here reads lines


@pytest.mark.parametrize("chunked", [False, True])
def test_a_put_body_is_never_held_whole(user, app_password, chunked):
    size = 64 * MiB
    body = _Body(size)
    headers = {"HTTP_AUTHORIZATION": basic(user.username, app_password)}
    if chunked:  # as gunicorn hands over a chunked body: decoded, with no length
        headers["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ = RequestFactory().generic("PUT", "/dav/big.bin", **headers).environ
    environ.pop("CONTENT_LENGTH", None)
    if not chunked:
        environ["CONTENT_LENGTH"] = str(size)
    environ["wsgi.input"] = body
    status, _, _, peak = served_measured(environ)
    assert status.startswith("201"), status
    assert Node.objects.get(name="big.bin").sha256 == body.digest.hexdigest()
    # Read whole, the body would be held at least twice (128 MiB); what remains is the
    # storage writer's own (1 MiB reads, S3 parts in flight: 10-28 MiB measured).
    assert peak < 40 * MiB, f"{peak / MiB:.1f} MiB held for a {size // MiB} MiB body"
