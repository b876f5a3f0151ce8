"""Large transfers through the API: a file of more S3 parts than the writer keeps
buffers for round-trips, and on local storage a download is a file the server sends
with sendfile(2) — stopping at the end of a range when it reads it instead."""

import os
from wsgiref.util import FileWrapper

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from storage_site.core import storage

from .helpers import download, sha, upload, usage

pytestmark = pytest.mark.django_db


def test_a_file_of_several_parts_round_trips(auth_client):
    # On S3: four parts of the smallest size, one more than the writer keeps buffers for.
    data = os.urandom(3 * storage.MIN_PART_SIZE + 12345)
    before = usage(auth_client)["used"]
    node = upload(auth_client, "big.bin", data)
    assert (node["size"], node["sha256"]) == (len(data), sha(data))
    assert download(auth_client, node["id"]) == data
    middle = storage.MIN_PART_SIZE
    resp = auth_client.get(f"/api/files/{node['id']}/download", HTTP_RANGE=f"bytes={middle - 5}-{middle + 4}")
    assert resp.status_code == 206
    assert b"".join(resp.streaming_content) == data[middle - 5:middle + 5]
    assert usage(auth_client)["used"] == before + len(data)


def served(client, path: str, **headers):
    """The download as a WSGI server receives it: (status, headers, body), the server
    offering `wsgi.file_wrapper` as gunicorn does (it sends such a file with sendfile)."""
    environ = RequestFactory().get(path, HTTP_AUTHORIZATION=f"Bearer {client.sign_in.access}", **headers).environ
    environ["wsgi.file_wrapper"] = FileWrapper
    started = []
    # As the test client does: the request's end must not close the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = WSGIHandler()(environ, lambda status, headers: started.append((status, dict(headers))))
        # Where sendfile would start; then read in blocks, as a server without it does.
        position = os.lseek(body.filelike.fileno(), 0, os.SEEK_CUR) if isinstance(body, FileWrapper) else None
        data = b"".join(body)
        body.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return started[0][0], started[0][1], body, data, position


def test_a_local_download_is_a_file_the_server_can_sendfile(auth_client, storage_backend):
    if storage_backend == "s3":
        pytest.skip("S3 objects are streamed; local files go out with sendfile(2)")
    data = os.urandom(3 * 1024 * 1024 + 7)
    node = upload(auth_client, "movie.bin", data)
    path = f"/api/files/{node['id']}/download"

    status, headers, body, sent, position = served(auth_client, path)
    assert status.startswith("200")
    # gunicorn sends Content-Length bytes from the file's position with sendfile(2).
    assert isinstance(body, FileWrapper) and position == 0
    assert int(headers["Content-Length"]) == len(data)
    assert sent == data

    start, end = 1_000_000, 2_500_000
    status, headers, body, sent, position = served(auth_client, path, HTTP_RANGE=f"bytes={start}-{end}")
    assert status.startswith("206") and isinstance(body, FileWrapper) and position == start
    assert (headers["Content-Range"], int(headers["Content-Length"])) == (f"bytes {start}-{end}/{len(data)}",
                                                                          end - start + 1)
    # Read in blocks instead, the file stops at the range's end.
    assert sent == data[start:end + 1]
