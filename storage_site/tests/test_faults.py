"""Faults: a storage outage, a full disk, a broker outage and a database error in the
middle of the work. After each, nothing half-done is visible, usage is exact and a
retry succeeds; every test ends with the storage invariant sweep
(storage_site/testing/invariants.py).

The S3 outage test starts and stops a SeaweedFS of its own (STORAGE_BACKEND=s3).
"""

import errno
import io
import os

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.test import TestCase

from accounts.models import User
from files.models import Blob, FileVersion, UploadSession, UploadStatus
from files.tests.helpers import download, mkdir, sha, upload
from files.tests.test_chunks_streamvault import complete, init, send
from folders.models import Change, Node
from storage_site.core import storage
from storage_site.testing.invariants import assert_storage_invariants, leftovers_clear

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_leftovers():
    """The session's storage starts without what earlier tests left, so an orphan the
    sweep finds is this test's."""
    leftovers_clear()


def _usage(user) -> tuple[int, int]:
    row = User.objects.values_list("storage_used", "storage_reserved").get(pk=user.pk)
    return tuple(row)


def _state():
    return (list(Node.objects.order_by("pk").values()), Change.objects.count(),
            list(FileVersion.objects.order_by("pk").values()), list(Blob.objects.order_by("pk").values()),
            list(User.objects.order_by("pk").values_list("storage_used", "storage_reserved")))


# --- S3 stops in the middle of an upload -------------------------------------------

@pytest.fixture
def fragile_s3(settings, tmp_path):
    """A SeaweedFS of this test's own, which the test may stop and start again."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("needs STORAGE_BACKEND=s3 (SeaweedFS)")
    from storage_site.testing.seaweedfs import SeaweedFS

    (tmp_path / "weed").mkdir()
    weed = SeaweedFS(data_dir=str(tmp_path / "weed")).start()
    weed.create_bucket("stratus-faults")
    options = {**settings.STORAGES["default"]["OPTIONS"], "endpoint_url": weed.endpoint_url,
               "access_key": weed.access_key, "secret_key": weed.secret_key, "bucket_name": "stratus-faults"}
    settings.STORAGES = {**settings.STORAGES, "default": {**settings.STORAGES["default"], "OPTIONS": options}}
    yield weed
    weed.stop()


def _upload_while_s3_stops(fragile_s3, client, data, monkeypatch) -> dict:
    original_write = storage.S3ObjectWriter.write

    def write_then_fail(self, chunk):  # S3 goes away once the first parts are in
        if self.size >= storage.PART_SIZE and fragile_s3.process.poll() is None:
            fragile_s3.stop()
        original_write(self, chunk)

    monkeypatch.setattr(storage.S3ObjectWriter, "write", write_then_fail)
    try:
        return upload(client, "movie.bin", data, expect=503)
    finally:
        monkeypatch.setattr(storage.S3ObjectWriter, "write", original_write)


def test_s3_stopping_mid_upload_is_503_with_nothing_visible_and_retry_works(fragile_s3, auth_client, user,
                                                                           monkeypatch):
    data = os.urandom(3 * storage.PART_SIZE + 123)
    before = _usage(user)
    body = _upload_while_s3_stops(fragile_s3, auth_client, data, monkeypatch)
    assert body["error"]["code"] == "STORAGE_UNAVAILABLE"
    assert not Node.objects.filter(name="movie.bin").exists()
    assert _usage(user) == before

    fragile_s3.start()
    done = upload(auth_client, "movie.bin", data)
    assert download(auth_client, done["id"]) == data
    assert _usage(user)[0] == before[0] + len(data)
    assert_storage_invariants(files_ok=[(user, done["id"], sha(data))], reconcile=True)


def test_s3_outage_leaves_nothing_once_the_reconciler_ran(fragile_s3, auth_client, monkeypatch):
    _upload_while_s3_stops(fragile_s3, auth_client, os.urandom(3 * storage.PART_SIZE), monkeypatch)
    fragile_s3.start()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("gc_blobs", "--grace-hours", "0", stdout=io.StringIO(), stderr=io.StringIO())
    assert_storage_invariants()


def test_s3_down_refuses_a_chunk_without_acknowledging_it(fragile_s3, auth_client, user):
    upload_id = init(auth_client, total=2)["upload_id"]
    send(auth_client, upload_id, 1, b"a" * 1000)
    fragile_s3.stop()
    body = send(auth_client, upload_id, 2, b"b" * 10, expect=503)
    assert body["code"] == "STORAGE_UNAVAILABLE"
    assert list(UploadSession.objects.get(uuid=upload_id).parts.values_list("number", flat=True)) == [1]
    fragile_s3.start()
    send(auth_client, upload_id, 2, b"b" * 10)
    file_pk = complete(auth_client, upload_id)["file_id"]
    assert download(auth_client, str(Node.objects.get(pk=file_pk).uuid)) == b"a" * 1000 + b"b" * 10
    assert_storage_invariants(files_ok=[(user, file_pk, sha(b"a" * 1000 + b"b" * 10))])


# --- the server's disk fills up -----------------------------------------------------

def test_full_disk_refuses_the_upload_and_keeps_nothing(auth_client, user, settings, monkeypatch):
    if settings.STORAGE_BACKEND == "s3":
        pytest.skip("local storage writes to the server's disk")

    class FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.fh.close()

    original_init = storage.LocalObjectWriter.__init__

    def open_on_full_disk(self, key):
        original_init(self, key)
        self._fh = FullDisk(self._fh)

    monkeypatch.setattr(storage.LocalObjectWriter, "__init__", open_on_full_disk)
    upload_id = init(auth_client, total=1)["upload_id"]
    before, files_before = _state(), set(_local_files())
    body = upload(auth_client, "big.bin", os.urandom(4096), expect=503)
    assert body["error"]["code"] == "STORAGE_UNAVAILABLE"
    assert send(auth_client, upload_id, 1, b"x" * 100, expect=503)["code"] == "STORAGE_UNAVAILABLE"
    assert not UploadSession.objects.get(uuid=upload_id).parts.exists()
    assert _state() == before
    assert set(_local_files()) == files_before
    assert_storage_invariants()


class TemporaryDisk:
    """The server's temporary disk, full until `full` is set False; `opened` lists the
    spool files made meanwhile."""

    def __init__(self):
        self.full = True
        self.opened = []


@pytest.fixture
def temporary_disk(settings, monkeypatch) -> TemporaryDisk:
    """With S3, bytes pass through spool files (storage.spool_file) on their way: the
    first megabyte is held in memory, past it the file rolls over to the temporary disk."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("only S3 uploads pass through the server's temporary disk")
    disk, real_spool_file = TemporaryDisk(), storage.spool_file

    def spool_file():
        spool = real_spool_file()
        real_rollover = spool.rollover

        def rollover():
            if disk.full:
                raise OSError(errno.ENOSPC, "No space left on device")
            real_rollover()

        spool.rollover = rollover
        disk.opened.append(spool)
        return spool

    monkeypatch.setattr(storage, "spool_file", spool_file)
    return disk


def test_full_temporary_disk_refuses_the_chunk_and_keeps_nothing(auth_client, user, temporary_disk):
    chunk, last = os.urandom(2 * 1024 * 1024), b"b" * 10
    upload_id = init(auth_client, total=2)["upload_id"]
    before = _state()
    assert send(auth_client, upload_id, 1, chunk, expect=503)["code"] == "STORAGE_UNAVAILABLE"
    assert temporary_disk.opened and all(spool.closed for spool in temporary_disk.opened)
    assert not UploadSession.objects.get(uuid=upload_id).parts.exists()
    assert _state() == before

    temporary_disk.full = False  # room again: the resend is taken
    send(auth_client, upload_id, 1, chunk)
    send(auth_client, upload_id, 2, last)
    file_pk = complete(auth_client, upload_id)["file_id"]
    assert download(auth_client, str(Node.objects.get(pk=file_pk).uuid)) == chunk + last
    assert_storage_invariants(files_ok=[(user, file_pk, sha(chunk + last))])


def test_full_temporary_disk_refuses_an_upload_and_keeps_nothing(auth_client, user, temporary_disk):
    content = os.urandom(3 * 1024 * 1024)
    before = _state()
    body = upload(auth_client, "big.bin", content, expect=503)
    assert body["error"]["code"] == "STORAGE_UNAVAILABLE"
    assert temporary_disk.opened and all(spool.closed for spool in temporary_disk.opened)
    assert _state() == before
    assert_storage_invariants()

    temporary_disk.full = False  # room again: the same upload is taken
    file_id = upload(auth_client, "big.bin", content)["id"]
    assert download(auth_client, file_id) == content


def _local_files() -> list[str]:
    from django.core.files.storage import storages

    found = []
    for root, _dirs, files in os.walk(storages["default"].location):
        found += [os.path.join(root, name) for name in files]
    return found


# --- the broker is down --------------------------------------------------------------

def test_broker_down_still_accepts_the_upload_and_assembly_happens_later(auth_client, user, settings, monkeypatch):
    from kombu.exceptions import OperationalError as BrokerDown

    from files import tasks

    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0  # everything goes to the worker
    queued = []

    def broker_down(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.upload_assemble_task, "delay", broker_down)
    chunks = [b"a" * 1000, b"b" * 10]
    upload_id = init(auth_client, total=2)["upload_id"]
    for number, chunk in enumerate(chunks, start=1):
        send(auth_client, upload_id, number, chunk)
    assert complete(auth_client, upload_id, expect=202)["status"] == "assembling"
    assert not Node.objects.filter(kind="file").exists()

    # The broker is back: the periodic sweep queues the assembly again.
    monkeypatch.undo()
    settings.UPLOAD_ASSEMBLY_STALE_SECONDS = 0
    queued.append(tasks.uploads_resume_task.delay().get())
    assert queued == [1]
    session = UploadSession.objects.get(uuid=upload_id)
    assert session.status == UploadStatus.COMPLETE
    assert download(auth_client, str(session.node.uuid)) == b"".join(chunks)
    # A retried complete answers with the same file.
    assert complete(auth_client, upload_id)["file_id"] == session.node.pk
    assert_storage_invariants(files_ok=[(user, session.node.pk, sha(b"".join(chunks)))])


# --- the database fails in the middle of a tree operation ----------------------------

@pytest.fixture
def tree_with_files(auth_client, user):
    folder = mkdir(auth_client, "Album")
    sub = mkdir(auth_client, "2024", parent=folder["id"])
    files_ok = []
    for number in range(3):
        data = os.urandom(100)
        files_ok.append((user, upload(auth_client, f"p{number}.jpg", data, folder=sub["id"])["id"], sha(data)))
    target = mkdir(auth_client, "Elsewhere")
    return folder["id"], target["id"], files_ok


# The journal row is written after the operation's other writes; a copy writes several.
@pytest.mark.parametrize("operation, fail_at", [("copy", 3), ("move", 1), ("delete", 1)])
def test_database_error_mid_operation_leaves_nothing_half_done(operation, fail_at, tree_with_files, auth_client,
                                                               monkeypatch):
    from folders import services as tree

    folder, target, files_ok = tree_with_files
    calls = {"n": 0}
    original = tree.journal_record

    def failing_journal(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == fail_at:  # earlier writes are done, then the database goes away
            raise OperationalError("server closed the connection unexpectedly")
        return original(*args, **kwargs)

    for module in _modules_using(original):
        monkeypatch.setattr(module, "journal_record", failing_journal)
    before = _state()
    if operation == "delete":
        resp = auth_client.delete(f"/api/folders/{folder}/delete")
    else:
        resp = auth_client.post(f"/api/folders/{folder}/{operation}", {"folderId": target}, format="json")
    assert resp.status_code == 503, resp.content
    assert resp.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert calls["n"] >= fail_at, "the fault was never injected"
    assert _state() == before
    monkeypatch.undo()
    assert_storage_invariants(files_ok=files_ok)


def _modules_using(function):
    import sys

    return [module for module in list(sys.modules.values())
            if module is not None and getattr(module, "__name__", "").split(".")[0] in ("files", "folders")
            and getattr(module, "journal_record", None) is function]
