"""Crashes (issue 10, "Faults"): a worker killed in the middle of an assembly or a
preview, an exception between the storage write and the database commit, and a
client body shorter than its Content-Length. After each, a file appears exactly
once or not at all, usage is exact, nothing partial is served, and the storage
invariant sweep (storage_site/testing/invariants.py) holds.

The worker tests start real `celery worker` processes (PostgreSQL, Redis, S3): a
test's own code, run in the worker before Celery starts, stops the task at a chosen
point (`_gate`) so the test knows the worker is inside the work when it kills it.
"""

import json
import os
import shutil
import socket
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.core.management import call_command
from django.db import OperationalError

from accounts.quota import ChargedAtCommit, Reservation
from files.models import Blob, UploadSession
from files.tests import test_chunks_streamvault as sv
from files.tests import test_megavault_upload as mv
from files.tests.helpers import download, sha, upload, usage
from storage_site.core import storage
from storage_site.testing.faults import gate_setup, process_kill
from storage_site.testing.invariants import assert_storage_invariants, leftovers_clear

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _no_leftovers(db):
    """The session's storage starts without objects earlier tests left, so an orphan
    the sweep finds is this test's."""
    leftovers_clear()


def _objects(prefix: str) -> set[str]:
    """Every object key under `prefix` (local files, or S3 objects), through the storage API."""
    backend, found, folders = storages["default"], set(), [prefix]
    while folders:
        folder = folders.pop()
        try:
            directories, files = backend.listdir(folder)
        except FileNotFoundError:
            continue
        found |= {f"{folder}/{name}" for name in files}
        folders += [f"{folder}/{name}" for name in directories]
    return found


def _files_named(client, name: str) -> list[dict]:
    resp = client.get("/api/search", {"q": name})
    assert resp.status_code == 200, resp.content
    return [item for item in resp.json()["data"]["items"] if item["name"] == name]


# --- a worker killed in the middle of the work ------------------------------------------

@pytest.fixture
def gate(tmp_path, settings):
    """`gate.setup(target, after=False)` → worker setup code that stops the first call of
    `module:attribute` (before it runs, or after) until the process is killed;
    `gate.wait()` → the pid of the process inside."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("the worker process shares storage with the tests only through S3")
    folder = tmp_path / "gate"
    folder.mkdir()

    class Gate:
        @staticmethod
        def setup(target: str, *, after: bool = False) -> str:
            return gate_setup(target, str(folder), after=after)

        @staticmethod
        def wait(worker, timeout: float = 60) -> int:
            deadline = time.monotonic() + timeout
            while not (folder / "entered").exists():
                assert worker.poll() is None, "the worker died before it reached the gate"
                assert time.monotonic() < deadline, "the worker never reached the gate"
                time.sleep(0.05)
            return int((folder / "entered").read_text())

    yield Gate
    (folder / "release").touch()  # a worker still held (a failed test) stops at once


def _forget_unacked(task: str) -> None:
    """A SIGKILLed worker's message stays unacknowledged in Redis and would come back
    after the visibility timeout (1 h), in some later test: drop it."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        for tag, raw in client.hgetall("unacked").items():
            if json.loads(raw)[0].get("headers", {}).get("task") == task:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


def _chunked_upload(client, chunks: list[bytes]) -> str:
    """StreamVault chunks, then `complete`: the worker assembles (202). The chunks go
    last first, and the ones kept until the gap fills are gone when it does (as if kept
    by another web node): the assembly reads the file back to verify it (the step some
    of these tests stop or race at)."""
    upload_id = sv.init(client, total=len(chunks))["upload_id"]
    for number, chunk in reversed(list(enumerate(chunks, start=1))):
        if number == 1:
            shutil.rmtree(Path(settings.FILE_UPLOAD_TEMP_DIR) / "kept-parts", ignore_errors=True)
        sv.send(client, upload_id, number, chunk)
    assert sv.complete(client, upload_id, expect=202)["status"] == "assembling"
    return upload_id


def _complete_when_done(client, upload_id: str, timeout: float) -> dict:
    """Call `complete` again and again, as a client does, until the file is there."""
    deadline = time.monotonic() + timeout
    while True:
        resp = client.post("/storage/api/v3/chunk_complete/", {"upload_id": upload_id}, format="json")
        if resp.status_code == 200:
            return resp.json()
        assert resp.status_code == 202 and resp.json()["status"] == "assembling", resp.content
        assert time.monotonic() < deadline, "the assembly never finished"
        time.sleep(0.2)


def _assert_once(client, user, upload_id: str, data: bytes, done: dict) -> None:
    """The file exists once, in one version, and nothing else of the upload is left."""
    session = UploadSession.objects.select_related("node").get(uuid=upload_id)
    assert done["file_id"] == session.node.pk
    [listed] = _files_named(client, session.name)
    assert listed["id"] == str(session.node.uuid)
    versions = client.get(f"/api/files/{listed['id']}/versions").json()["data"]
    assert [version["number"] for version in versions] == [1], versions
    assert download(client, listed["id"]) == data
    stats = usage(client)
    assert stats["used"] == len(data) and stats["reserved"] == 0
    parts = set(session.parts.exclude(storage_key="").values_list("storage_key", flat=True))
    adopted = set(Blob.objects.filter(storage_key__in=parts).values_list("storage_key", flat=True))
    # The worker deletes the parts just after its commit, which the client may see first.
    deadline = time.monotonic() + 10
    while (left := (parts - adopted) & _objects("blobs")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "part objects outlived the assembly"
    assert_storage_invariants(files_ok=[(user, listed["id"], sha(data))], users=[user])


@pytest.mark.celery_worker
def test_worker_process_killed_mid_assembly_is_run_again_at_once(celery_worker_factory, gate, auth_client, user,
                                                                 settings):
    """The pool's child dies (the OOM killer's choice) while it streams small chunks into
    one object: the task is given back to the broker (`reject_on_worker_lost`) and a
    fresh child assembles the file, once."""
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0  # everything goes to the worker
    worker = celery_worker_factory(name="prefork", pool="prefork",
                                   setup=gate.setup("storage_site.core.storage:S3ObjectWriter.write"))
    chunks = [os.urandom(MiB), os.urandom(MiB), os.urandom(MiB), os.urandom(1000)]  # < 5 MiB: joined by a copy
    data = b"".join(chunks)
    try:
        upload_id = _chunked_upload(auth_client, chunks)
        child = gate.wait(worker)
        assert child != worker.pid
        process_kill(child)
        # Long before the assembly's lease (UPLOAD_ASSEMBLY_STALE_SECONDS) could run out.
        done = _complete_when_done(auth_client, upload_id, timeout=30)
    finally:
        _forget_unacked("files.tasks.upload_assemble_task")
    assert worker.poll() is None  # the worker itself lived on
    _assert_once(auth_client, user, upload_id, data, done)


@pytest.mark.celery_worker
def test_worker_killed_mid_assembly_is_resumed_by_another_worker(celery_worker_factory, gate, auth_client, user,
                                                                 settings):
    """The whole worker dies after S3 completed the multipart upload but before the
    file was recorded. While it lived its lease kept the assembly its own (an idle
    second worker got nothing to do); once the lease runs out, the client's next
    `complete` queues the assembly again and the second worker finishes it, once."""
    stale = 3
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0
    settings.UPLOAD_ASSEMBLY_STALE_SECONDS = stale
    lease = {"UPLOAD_ASSEMBLY_STALE_SECONDS": str(stale)}
    first = celery_worker_factory(name="first", env=lease,
                                  setup=gate.setup("files.uploads.assembly:_read_back"))
    chunks = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1000)]  # S3 multipart parts, then a copy
    data = b"".join(chunks)
    try:
        upload_id = _chunked_upload(auth_client, chunks)
        assert gate.wait(first) == first.pid
        celery_worker_factory(name="second", env=lease)

        # Alive, however long it takes: never queued twice.
        until = time.monotonic() + 2 * stale
        while time.monotonic() < until:
            assert sv.complete(auth_client, upload_id, expect=202)["status"] == "assembling"
            time.sleep(0.3)

        process_kill(first.pid)
        done = _complete_when_done(auth_client, upload_id, timeout=stale + 20)
    finally:
        _forget_unacked("files.tasks.upload_assemble_task")
    _assert_once(auth_client, user, upload_id, data, done)


@pytest.mark.django_db
def test_a_second_run_of_an_assembly_never_deletes_the_file(auth_client, user, settings, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    """Two runs of one assembly at once (the broker hands a long task to a second worker
    after its visibility timeout): the run that loses the race must not delete the
    multipart object the winner recorded as the file."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("S3 multipart uploads need STORAGE_BACKEND=s3")
    from files import tasks

    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0
    chunks = [os.urandom(5 * MiB), os.urandom(10)]
    with monkeypatch.context() as broker:
        broker.setattr(tasks.upload_assemble_task, "delay", lambda *args: None)  # this test runs the task itself
        upload_id = _chunked_upload(auth_client, chunks)
    session_pk = UploadSession.objects.get(uuid=upload_id).pk
    from files.uploads import assembly

    original, runs = assembly._read_back, []

    def verify_after_the_other_run(session, parts):
        runs.append(session.pk)
        if len(runs) == 1:  # the first run has completed the multipart upload; the second one overtakes it
            tasks.upload_assemble_task.delay(session_pk)
        return original(session, parts)

    monkeypatch.setattr(assembly, "_read_back", verify_after_the_other_run)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.upload_assemble_task.delay(session_pk)
    assert len(runs) == 2
    done = sv.complete(auth_client, upload_id)
    _assert_once(auth_client, user, upload_id, b"".join(chunks), done)


@pytest.mark.celery_worker
def test_worker_killed_mid_preview_leaves_the_original_and_no_partial_preview(celery_worker_factory, gate,
                                                                              auth_client, settings):
    """The worker dies with one preview image written and the other not. The original is
    untouched, nothing half-made is served, the sweep ends the preview `failed`, and
    asking again makes it `ready`, with no object left over."""
    from previews import testing as samples
    from previews.models import Preview, PreviewStatus
    from previews.tasks import previews_sweep_task
    from previews.tests.helpers import info, preview, preview_image

    first = celery_worker_factory(name="first", setup=gate.setup("storage_site.core.storage:put_bytes", after=True))
    photo = samples.jpeg_rotated(width=640, height=320)
    before = _objects("previews")
    file_id = upload(auth_client, "IMG_1.jpg", photo, content_type="image/jpeg")["id"]
    try:
        assert gate.wait(first) == first.pid
        assert len(_objects("previews") - before) == 1  # one image written, the other not
        assert info(auth_client, file_id)["status"] == "processing"
        assert preview(auth_client, file_id, "thumbnail").status_code == 202  # never a partial image
        process_kill(first.pid)
        celery_worker_factory(name="second")

        # Time passes beyond the hard time limit; the periodic sweep (beat) runs.
        Preview.objects.filter(blob__sha256=sha(photo)).update(
            started_at=Preview.objects.get(blob__sha256=sha(photo), preview_type="thumbnail").started_at
            - timedelta(seconds=settings.PREVIEW_TASK_TIME_LIMIT + 61))
        previews_sweep_task.delay()
        failed = _preview_settled(auth_client, file_id)
        assert failed["status"] == PreviewStatus.FAILED and "worker stopped" in failed["error"]
        for kind in ("thumbnail", "medium"):
            assert preview(auth_client, file_id, kind).status_code == 422
        assert download(auth_client, file_id) == photo

        resp = auth_client.post(f"/api/files/{file_id}/generate-preview", {}, format="json")
        assert resp.status_code == 202, resp.content
        assert _preview_settled(auth_client, file_id)["status"] == PreviewStatus.READY
    finally:
        _forget_unacked("previews.tasks.preview_generate_task")
    image, _, _ = preview_image(auth_client, file_id, "thumbnail")
    assert image.size == (128, 256)  # rotated by its EXIF orientation
    rows = Preview.objects.filter(blob__sha256=sha(photo))
    assert {row.status for row in rows} == {PreviewStatus.READY}
    assert _objects("previews") - before == {row.storage_key for row in rows}
    assert download(auth_client, file_id) == photo


def _preview_settled(client, file_id: str, timeout: float = 60) -> dict:
    from previews.tests.helpers import info

    deadline = time.monotonic() + timeout
    while (details := info(client, file_id))["status"] in ("pending", "processing"):
        assert time.monotonic() < deadline, f"the preview never settled: {details}"
        time.sleep(0.2)
    return details


# --- an exception after the bytes are stored, before the database commit ------------------

def _fail_at_commit(monkeypatch):
    """The database goes away in the commit's last step (the usage update): blob, node
    and version rows are written by then, and the object is in storage."""
    calls = []

    def commit(self, size):
        calls.append(size)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Reservation, "commit", commit)
    monkeypatch.setattr(ChargedAtCommit, "commit", commit)  # a small body's quota is charged there
    return calls


@pytest.mark.django_db
def test_exception_before_the_commit_leaves_no_file_and_no_usage(auth_client, user, monkeypatch):
    kept = upload(auth_client, "kept.txt", b"already here")
    stats, objects = usage(auth_client), _objects("blobs")
    calls = _fail_at_commit(monkeypatch)
    data = os.urandom(100_000)

    body = upload(auth_client, "report.pdf", data, expect=503)
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert calls == [len(data)], "the fault was never injected"
    assert _files_named(auth_client, "report.pdf") == []
    assert usage(auth_client) == stats
    assert _objects("blobs") == objects  # the service deleted what it had written

    monkeypatch.undo()
    done = upload(auth_client, "report.pdf", data)
    assert download(auth_client, done["id"]) == data
    assert usage(auth_client)["used"] == stats["used"] + len(data)
    assert_storage_invariants(files_ok=[(user, kept["id"], sha(b"already here")), (user, done["id"], sha(data))],
                              users=[user])


@pytest.mark.django_db
def test_object_left_by_a_failed_commit_is_collected_by_the_reconciler(auth_client, user, monkeypatch):
    """As above, and the delete that should follow fails too (storage hiccup, or the
    process died): the object outlives its upload with no row. `gc_blobs` leaves it
    alone while it is young (it could be an upload about to commit), then collects it,
    and nothing else."""
    kept = upload(auth_client, "kept.txt", b"already here")
    stats, objects = usage(auth_client), _objects("blobs")
    _fail_at_commit(monkeypatch)
    deletes = []
    # A delete that never reaches storage: what `storage.delete` does when storage fails
    # (it logs and goes on), on either backend.
    monkeypatch.setattr(storage, "delete", deletes.append)
    assert upload(auth_client, "report.pdf", os.urandom(100_000), expect=503)["error"]["code"] == \
        "SERVICE_UNAVAILABLE"
    monkeypatch.undo()
    assert _files_named(auth_client, "report.pdf") == []
    assert usage(auth_client) == stats
    [orphan] = _objects("blobs") - objects
    assert set(deletes) == {orphan}  # the upload did try to drop it

    call_command("gc_blobs", verbosity=0)  # the default grace period: too young to judge
    assert orphan in _objects("blobs")
    call_command("gc_blobs", "--grace-hours", "0", verbosity=0)
    assert _objects("blobs") == objects
    assert download(auth_client, kept["id"]) == b"already here"
    assert usage(auth_client) == stats
    assert_storage_invariants(files_ok=[(user, kept["id"], sha(b"already here"))], users=[user])


def _assembly_paths():
    return [
        pytest.param("joined", [b"a" * 1000, b"b" * 1000, b"c" * 10], id="joined-chunks"),
        pytest.param("adopted", [b"one part" * 100], id="adopted-part"),
        pytest.param("multipart", [b"a" * (5 * MiB), b"z" * 10], id="s3-multipart"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path, chunks", _assembly_paths())
def test_exception_before_an_assembly_commit_is_retried_to_one_file(path, chunks, auth_client, user, monkeypatch,
                                                                     settings):
    """The database fails as an assembled upload is recorded: the client sees a 503 and
    no file; its next `complete` assembles again and the file appears once."""
    if path == "multipart" and settings.STORAGE_BACKEND != "s3":
        pytest.skip("S3 multipart uploads need STORAGE_BACKEND=s3")
    data = b"".join(chunks)
    upload_id = sv.init(auth_client, total=len(chunks))["upload_id"]
    for number, chunk in enumerate(chunks, start=1):
        sv.send(auth_client, upload_id, number, chunk)
    held = usage(auth_client)
    _fail_at_commit(monkeypatch)
    resp = auth_client.post("/storage/api/v3/chunk_complete/", {"upload_id": upload_id}, format="json")
    assert resp.status_code == 503, resp.content
    assert _files_named(auth_client, "example.mp4") == []
    assert usage(auth_client) == held  # the session still holds its parts' quota, nothing more

    monkeypatch.undo()
    done = _complete_when_done(auth_client, upload_id, timeout=5)
    _assert_once(auth_client, user, upload_id, data, done)


# --- a body shorter than its Content-Length -------------------------------------------------

BOUNDARY = "StratusCutShort"


def _multipart(fields: dict, data: bytes) -> bytes:
    body = b"".join(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
                    for name, value in fields.items())
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return body + head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def _send(live_server, client, method: str, path: str, body: bytes, *, cut: int | None = None,
          content_type: str = f"multipart/form-data; boundary={BOUNDARY}") -> tuple[int, dict]:
    """One request over a raw socket, declaring the whole body's length; with `cut`, only
    that many bytes are sent before the client stops sending (half-close), as a phone
    losing its network does. Returns (status, JSON answer)."""
    address = urlparse(live_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                     f"Authorization: Bearer {client.sign_in.access}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + (body if cut is None else body[:cut]))
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload or b"{}")


def test_primary_upload_cut_short_stores_nothing_and_the_retry_works(live_server, auth_client, user):
    data = os.urandom(3 * MiB)
    body = _multipart({}, data)
    stats, objects = usage(auth_client), _objects("blobs")

    status, answer = _send(live_server, auth_client, "POST", "/api/files/upload", body, cut=len(body) // 2)
    assert status == 400 and answer["success"] is False, answer
    assert answer["error"]["code"] == "INCOMPLETE_UPLOAD", answer
    assert _files_named(auth_client, "clip.bin") == []
    assert usage(auth_client) == stats
    assert _objects("blobs") == objects

    status, answer = _send(live_server, auth_client, "POST", "/api/files/upload", body)
    assert status == 201, answer
    assert download(auth_client, answer["data"]["id"]) == data
    assert_storage_invariants(files_ok=[(user, answer["data"]["id"], sha(data))], users=[user])


def test_streamvault_chunk_cut_short_is_not_acknowledged_and_can_be_sent_again(live_server, auth_client, user):
    chunks = [os.urandom(MiB), os.urandom(1000)]
    upload_id = sv.init(auth_client, total=2)["upload_id"]
    sv.send(auth_client, upload_id, 1, chunks[0])
    stats, objects = usage(auth_client), _objects("blobs")
    body = _multipart({"upload_id": upload_id, "chunk_number": 2}, chunks[1])

    status, answer = _send(live_server, auth_client, "POST", "/storage/api/v3/chunk_upload/", body, cut=len(body) - 600)
    assert status == 400 and answer["code"] == "INCOMPLETE_UPLOAD", answer  # StreamVault's error shape
    held = sv.status(auth_client, upload_id)
    assert held["received_chunks"] == [1] and held["missing_chunks"] == [2]
    assert usage(auth_client) == stats
    assert _objects("blobs") == objects

    status, answer = _send(live_server, auth_client, "POST", "/storage/api/v3/chunk_upload/", body)
    assert status == 200, answer
    done = sv.complete(auth_client, upload_id)
    _assert_once(auth_client, user, upload_id, b"".join(chunks), done)


def test_megavault_chunk_cut_short_is_not_acknowledged_and_can_be_sent_again(live_server, auth_client, user):
    data = os.urandom(MiB + 500)
    [file] = mv.init(auth_client, [mv.one(name="clip.mp4", size=len(data))], chunkSize=MiB)["files"]
    upload_id = file["uploadId"]
    mv.put_chunk(auth_client, upload_id, 0, data[:MiB])
    stats, objects = usage(auth_client), _objects("blobs")
    path = f"/api/mobile/upload/chunk?uploadId={upload_id}&index=1"

    status, answer = _send(live_server, auth_client, "PUT", path, data[MiB:], cut=200,
                           content_type="application/octet-stream")
    assert status == 400 and answer["error"]["code"] == "INCOMPLETE_UPLOAD", answer
    held = mv.progress(auth_client, upload_id)
    assert held["completedChunks"] == [0] and held["missingChunks"] == [1], held
    assert usage(auth_client) == stats
    assert _objects("blobs") == objects

    status, answer = _send(live_server, auth_client, "PUT", path, data[MiB:], content_type="application/octet-stream")
    assert status == 200, answer
    finished = mv.complete(auth_client, upload_id)
    file_id = finished["file"]["id"]
    assert download(auth_client, file_id) == data
    assert usage(auth_client)["used"] == stats["used"] + len(data) and usage(auth_client)["reserved"] == 0
    assert_storage_invariants(files_ok=[(user, file_id, sha(data))], users=[user])
