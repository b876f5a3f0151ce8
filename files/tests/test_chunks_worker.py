"""A big chunked upload is assembled by a real Celery worker process, not by the
request: `complete` answers at once and the client polls."""

import os
import time

import pytest

from .helpers import download
from .test_chunks_streamvault import complete, init, send, status


@pytest.mark.celery_worker
def test_assembly_runs_in_the_worker(celery_worker, auth_client, settings):
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("the worker process shares storage with the tests only through S3")
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0
    chunks = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(7)]
    upload_id = init(auth_client, total=3)["upload_id"]
    for number, chunk in enumerate(chunks, start=1):
        send(auth_client, upload_id, number, chunk)
    assert complete(auth_client, upload_id, expect=202)["status"] == "assembling"
    deadline = time.monotonic() + 60
    while (state := status(auth_client, upload_id))["status"] == "assembling":
        assert time.monotonic() < deadline, "the worker never assembled the file"
        time.sleep(0.2)
    assert state["status"] == "complete", state
    done = complete(auth_client, upload_id)
    from files.models import UploadSession

    node = UploadSession.objects.get(uuid=upload_id).node
    assert done["file_id"] == node.pk
    assert download(auth_client, str(node.uuid)) == b"".join(chunks)
