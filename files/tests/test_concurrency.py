"""Races (issue 10): uploads racing for the last bytes of a quota, parallel `complete`
calls on one upload session (and assemblies of it overlapping), a share link revoked
while downloads run. Each test ends with the storage invariant sweep
(storage_site/testing/invariants.py).

Every request runs in its own thread with its own client and database connection,
as separate server threads would.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from accounts.models import User
from files.models import UploadSession
from folders.models import Node
from storage_site.testing.invariants import assert_storage_invariants, leftovers_clear

from . import test_chunks_streamvault as streamvault
from . import test_megavault_upload as megavault
from . import test_tus as tus
from .helpers import sha, upload

# In-memory shared-cache SQLite (the test database) locks whole tables and has no busy
# timeout: a second writer fails at once instead of waiting. These races run on PostgreSQL.
on_postgresql = pytest.mark.skipif(connection.vendor == "sqlite", reason="in-memory shared-cache SQLite locks "
                                   "whole tables with no busy timeout; the races run on PostgreSQL in CI")

pytestmark = [on_postgresql, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_leftovers():
    """What earlier tests left in the session's storage is not this test's leak."""
    leftovers_clear()


def race(n: int, work) -> list:
    """Run work(0..n-1) in n threads released at the same moment; their results in order."""
    start = threading.Barrier(n)

    def one(index):
        start.wait(10)
        return work(index)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(_closing(one), range(n)))


def _closing(work):
    """`work` in a thread of its own: the thread's database connection is closed after."""
    def run(*args):
        try:
            return work(*args)
        finally:
            connection.close()
    return run


# --- the last bytes of a quota -----------------------------------------------------------

def test_parallel_uploads_never_exceed_the_quota(user, client_for):
    User.objects.filter(pk=user.pk).update(storage_quota=1000)

    def one(n):
        data = bytes([n]) * 100
        resp = client_for(user).post("/api/files/upload", {"file": SimpleUploadedFile(f"f{n}.bin", data)},
                                     format="multipart")
        return resp.status_code, resp.json().get("data", {}).get("id"), sha(data)

    answers = race(20, one)
    statuses = [status for status, _, _ in answers]
    assert sorted(set(statuses)) == [201, 413]
    assert statuses.count(201) == 10
    fresh = User.objects.get(pk=user.pk)
    assert fresh.storage_used == 1000 and fresh.storage_reserved == 0
    stored = sum(Node.objects.filter(owner=user, kind="file").values_list("size", flat=True))
    assert stored == fresh.storage_used
    assert_storage_invariants(files_ok=[(user, file_id, digest) for status, file_id, digest in answers
                                        if status == 201])


@pytest.mark.parametrize("declared", [True, False], ids=["size-held-at-init", "held-per-chunk"])
def test_parallel_chunked_uploads_never_exceed_the_quota(user, client_for, declared):
    """The same race through StreamVault's chunk door: the quota is held at init when the
    size is declared, else by each chunk before it is stored."""
    User.objects.filter(pk=user.pk).update(storage_quota=1000)

    def one(n):
        client, data = client_for(user), bytes([n]) * 100
        resp = client.post("/storage/api/v3/chunk_init/", {"file_name": f"c{n}.bin", "total_chunks": 1,
                                                           **({"file_size": 100} if declared else {})}, format="json")
        if resp.status_code != 200:
            return resp.status_code, None, None
        upload_id = resp.json()["upload_id"]
        resp = client.post("/storage/api/v3/chunk_upload/", {
            "upload_id": upload_id, "chunk_number": 1, "file": SimpleUploadedFile("blob", data)}, format="multipart")
        if resp.status_code != 200:
            return resp.status_code, None, None
        resp = client.post("/storage/api/v3/chunk_complete/", {"upload_id": upload_id}, format="json")
        return resp.status_code, resp.json().get("file_id"), sha(data)

    answers = race(20, one)
    statuses = [status for status, _, _ in answers]
    assert sorted(set(statuses)) == [200, 413] and statuses.count(200) == 10, statuses
    fresh = User.objects.get(pk=user.pk)
    assert fresh.storage_used == 1000 and fresh.storage_reserved == 0
    assert Node.objects.filter(owner=user, kind="file").count() == 10
    assert_storage_invariants(files_ok=[(user, file_id, digest) for status, file_id, digest in answers
                                        if status == 200])


# --- parallel `complete` calls on one upload session -------------------------------------

PARALLEL = 6
CHUNKS = [bytes([n]) * 3000 for n in range(1, 4)] + [b"end"]
WHOLE = b"".join(CHUNKS)


def test_parallel_streamvault_completes_make_one_file(user, client_for):
    owner = client_for(user)
    upload_id = streamvault.init(owner, name="clip.bin", total=len(CHUNKS))["upload_id"]
    for number, chunk in enumerate(CHUNKS, start=1):
        streamvault.send(owner, upload_id, number, chunk)

    def one(_):
        resp = client_for(user).post("/storage/api/v3/chunk_complete/", {"upload_id": upload_id}, format="json")
        return resp.status_code, resp.json()

    answers = race(PARALLEL, one)
    assert {status for status, _ in answers} <= {200, 202}, answers
    final = streamvault.complete(owner, upload_id)["file_id"]  # once everyone returned: the file
    assert {body["file_id"] for status, body in answers if status == 200} <= {final}
    assert list(Node.objects.filter(owner=user, name__startswith="clip").values_list("pk", flat=True)) == [final]
    assert_storage_invariants(files_ok=[(user, final, sha(WHOLE))])


def test_completes_queueing_assembly_again_while_it_runs_keep_one_intact_file(user, client_for, settings):
    """Every `complete` finds the assembly stale and queues it again (the worker-died
    path), so several assemblies of one session overlap. With S3 the first chunk joins
    the session's multipart upload, so every run builds the same object: a run that
    loses must not delete what the winner recorded."""
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0  # always the task (in process here)
    settings.UPLOAD_ASSEMBLY_STALE_SECONDS = 0
    owner = client_for(user)
    first, last = bytes(range(256)) * (5 * 1024 * 4), b"tail" * 250  # 5 MiB: S3's smallest multipart part
    upload_id = streamvault.init(owner, name="movie.bin", total=2)["upload_id"]
    streamvault.send(owner, upload_id, 1, first)
    streamvault.send(owner, upload_id, 2, last)

    def one(_):
        resp = client_for(user).post("/storage/api/v3/chunk_complete/", {"upload_id": upload_id}, format="json")
        return resp.status_code, resp.json()

    answers = race(PARALLEL, one)
    assert {status for status, _ in answers} <= {200, 202}, answers
    final = streamvault.complete(owner, upload_id)["file_id"]
    assert {body["file_id"] for status, body in answers if status == 200} <= {final}
    assert list(Node.objects.filter(owner=user, name__startswith="movie").values_list("pk", flat=True)) == [final]
    assert_storage_invariants(files_ok=[(user, final, sha(first + last))])


def test_parallel_megavault_completes_make_one_file(user, client_for):
    owner = client_for(user)
    chunk_size = 256 * 1024  # MegaVault's smallest
    data = b"".join(bytes([n]) * chunk_size for n in range(3)) + b"end"
    [file] = megavault.init(owner, [megavault.one(name="clip.bin", size=len(data))], chunkSize=chunk_size)["files"]
    for chunk in file["chunks"]:
        megavault.put(owner, chunk["uploadUrl"], data[chunk["start"]:chunk["end"] + 1])

    def one(_):
        resp = client_for(user).post("/api/mobile/upload/complete", {"uploadId": file["uploadId"]}, format="json")
        return resp.status_code, resp.json()["data"]

    answers = race(PARALLEL, one)
    assert {status for status, _ in answers} <= {200, 202}, answers
    final = megavault.complete(owner, file["uploadId"])["file"]["id"]
    assert {data["file"]["id"] for status, data in answers if status == 200} <= {final}
    assert [str(uuid) for uuid in Node.objects.filter(owner=user, name__startswith="clip")
            .values_list("uuid", flat=True)] == [final]
    assert_storage_invariants(files_ok=[(user, final, sha(data))])


def test_parallel_final_tus_patches_make_one_file(user, client_for):
    """Every PATCH carries the last bytes at the same offset: one completes the upload,
    the others find it moved on (409) or complete (the same bytes again)."""
    owner = client_for(user)
    url = tus.create(owner, len(WHOLE), metadata={"filename": "clip.bin"})
    head, tail = WHOLE[:-3], WHOLE[-3:]
    tus.patch(owner, url, head, 0)

    def one(_):
        resp = client_for(user).generic("PATCH", url, tail, content_type=tus.OFFSET_STREAM, **tus.TUS,
                                        HTTP_UPLOAD_OFFSET=str(len(head)))
        return resp.status_code, resp.get("Stratus-File-Id")

    answers = race(PARALLEL, one)
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {204, 409} and 204 in statuses, answers
    final = tus.head(owner, url)["Stratus-File-Id"]
    # A 204 whose upload another PATCH is still assembling names no file yet.
    assert {file_id for status, file_id in answers if status == 204 and file_id} <= {final}
    assert [str(uuid) for uuid in Node.objects.filter(owner=user, name__startswith="clip")
            .values_list("uuid", flat=True)] == [final]
    assert UploadSession.objects.get().parts.count() == 2
    assert_storage_invariants(files_ok=[(user, final, sha(WHOLE))])


# --- a share link revoked while downloads run --------------------------------------------

def test_a_share_link_revoked_during_downloads_refuses_every_later_request(user, client_for):
    from storage_site.testing.client import Client

    owner = client_for(user)
    data = bytes(range(256)) * 64
    file = upload(owner, "poster.bin", data)
    link = owner.post(f"/api/files/{file['id']}/share", {}, format="json").json()["data"]
    path = f"/api/public/shares/{link['token']}/download"
    stop = threading.Event()
    seen = []  # (started, status, body ok)

    def downloader(_):
        anonymous = Client()
        while not stop.is_set():
            started = time.monotonic()
            resp = anonymous.get(path)
            body = b"".join(resp.streaming_content) if resp.streaming else resp.content
            seen.append((started, resp.status_code, body == data if resp.status_code == 200 else None))

    with ThreadPoolExecutor(max_workers=3) as pool:
        running = [pool.submit(_closing(downloader), n) for n in range(3)]
        try:
            deadline = time.monotonic() + 60
            while sum(status == 200 for _, status, _ in list(seen)) < 9:  # every thread past its warm-up
                assert time.monotonic() < deadline, "the downloads never got going"
                time.sleep(0.01)
            assert owner.delete(f"/api/shares/{link['id']}").status_code == 200
            revoked = time.monotonic()
            while sum(started > revoked for started, _, _ in list(seen)) < 9:  # a few after, per thread
                assert time.monotonic() < deadline + 60, "the downloads stopped"
                time.sleep(0.01)
        finally:
            stop.set()
            for future in running:
                future.result(30)

    after = [status for started, status, _ in seen if started > revoked]
    before = [(status, ok) for started, status, ok in seen if started <= revoked]
    assert after and set(after) == {404}, after
    assert (200, True) in before and {status for status, _ in before} <= {200, 404, 410}
    assert all(ok for status, ok in before if status == 200)
    assert_storage_invariants(files_ok=[(user, file["id"], sha(data))])

