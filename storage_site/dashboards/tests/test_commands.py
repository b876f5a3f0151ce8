"""The operators' commands on real data: files uploaded through the API, objects in the test storage."""

import inspect
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.utils import timezone

from accounts.models import User
from files.models import Blob, UploadSession
from files.tests.helpers import upload, usage
from folders.models import Node
from storage_site.celery import app as celery_app
from storage_site.core import storage
from storage_site.dashboards import tasks

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    """Run a command as the shell would: its transactions commit, so their on-commit
    work (object deletes) happens."""
    out = StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command(*args, stdout=out, stderr=StringIO(), verbosity=2)
    return out.getvalue()


def trash(client, file_id: str, days_ago: int = 0) -> None:
    assert client.delete(f"/api/files/{file_id}/delete").status_code == 200
    if days_ago:
        Node.objects.filter(uuid=file_id).update(trashed_at=timezone.now() - timedelta(days=days_ago))


def key_of(file_id: str) -> str:
    return Blob.objects.get(versions__node__uuid=file_id).storage_key


# --- purge_trash ----------------------------------------------------------------------

def test_purge_trash_deletes_only_what_outlived_the_retention(auth_client, other_client):
    old = upload(auth_client, "old.txt", b"old bytes")
    older = upload(other_client, "older.txt", b"older bytes!")
    recent = upload(auth_client, "recent.txt", b"recent")
    kept = upload(auth_client, "kept.txt", b"kept")
    retention = settings.TRASH_RETENTION_DAYS
    trash(auth_client, old["id"], days_ago=retention + 1)
    trash(other_client, older["id"], days_ago=retention + 40)
    trash(auth_client, recent["id"], days_ago=retention - 1)
    used = usage(auth_client)["used"]

    out = run("purge_trash", "--dry-run")
    assert "Would purge 2 trash entries (21 bytes)" in out and "older.txt" in out
    assert Node.objects.filter(uuid__in=[old["id"], older["id"]]).count() == 2

    out = run("purge_trash")
    assert "Purged 2 trash entries, freed 21 bytes" in out
    assert not Node.objects.filter(uuid__in=[old["id"], older["id"]]).exists()
    assert Node.objects.filter(uuid=recent["id"], trashed_at__isnull=False).exists()
    assert usage(auth_client)["used"] == used - len(b"old bytes")
    assert usage(other_client)["used"] == 0
    assert auth_client.get(f"/api/files/{kept['id']}/info").status_code == 200
    assert "Nothing to purge" in run("purge_trash")


# --- expire_uploads -------------------------------------------------------------------------

def _chunked(client, name: str, size: int) -> UploadSession:
    started = client.post("/storage/api/v3/chunk_init/", {"file_name": name, "total_chunks": 2, "file_size": size},
                          format="json")
    assert started.status_code in (200, 201), started.content
    return UploadSession.objects.get(uuid=started.json()["upload_id"])


def test_expire_uploads_ends_stale_sessions_and_returns_their_quota(auth_client):
    stale = _chunked(auth_client, "stale.mp4", 1000)
    live = _chunked(auth_client, "live.mp4", 300)
    UploadSession.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert usage(auth_client)["reserved"] == 1300

    assert "Would expire 1 upload sessions, releasing 1000 reserved bytes" in run("expire_uploads", "--dry-run")
    assert UploadSession.objects.get(pk=stale.pk).status == "uploading"

    assert "Expired 1 upload sessions" in run("expire_uploads")
    assert UploadSession.objects.get(pk=stale.pk).status == "expired"
    assert UploadSession.objects.get(pk=live.pk).status == "uploading"
    assert usage(auth_client)["reserved"] == 300


# --- gc_blobs ---------------------------------------------------------------------------------

def test_gc_blobs_collects_unreferenced_blobs_with_their_objects(auth_client):
    doomed = upload(auth_client, "doomed.txt", b"will be purged")
    shared = upload(auth_client, "a.txt", b"shared content")
    upload(auth_client, "b.txt", b"shared content")
    doomed_key, shared_key = key_of(doomed["id"]), key_of(shared["id"])
    trash(auth_client, doomed["id"])
    trash(auth_client, shared["id"])
    assert auth_client.delete("/api/trash").status_code == 200  # purge: the blob loses its last reference
    assert Blob.objects.get(storage_key=doomed_key).ref_count == 0

    out = run("gc_blobs", "--dry-run", "--skip-orphans")
    assert "Would collect 1 unreferenced blobs (14 bytes)" in out
    assert storage.exists(doomed_key)

    assert "Collected 1 unreferenced blobs" in run("gc_blobs", "--skip-orphans")
    assert not Blob.objects.filter(storage_key=doomed_key).exists()
    assert not storage.exists(doomed_key)
    assert storage.exists(shared_key) and Blob.objects.get(storage_key=shared_key).ref_count == 1


def test_gc_blobs_deletes_old_orphans_under_blobs_only(auth_client):
    kept = upload(auth_client, "kept.txt", b"a real file")
    orphan = "blobs/zz/" + "0" * 32
    storage.put_bytes(orphan, b"left behind by a crash")
    others = ["previews/zz/thumb.jpg", "qr/zz.png", "uploads/zz/part"]
    for key in others:
        storage.put_bytes(key, b"belongs to another app")
    session = _chunked(auth_client, "open.mp4", 2 * 1024 * 1024)
    part = auth_client.post("/storage/api/v3/chunk_upload/", {
        "upload_id": str(session.uuid), "chunk_number": 1, "file": _chunk(b"p" * (1024 * 1024))},
        format="multipart")
    assert part.status_code in (200, 201), part.content
    part_keys = [key for key in session.parts.values_list("storage_key", flat=True) if key]

    # Young unknown objects may be uploads still committing: kept within the grace period.
    out = run("gc_blobs", "--dry-run")
    assert "Would delete 0 orphaned objects" in out
    # (The test storage lives for the whole session: earlier tests' objects are orphans now too.)
    out = run("gc_blobs", "--dry-run", "--grace-hours", "0")
    assert f"orphan {orphan} (22 bytes" in out
    assert not any(key in out for key in [key_of(kept["id"]), *others, *part_keys])
    assert storage.exists(orphan)

    out = run("gc_blobs", "--grace-hours", "0")
    assert f"orphan {orphan} (22 bytes" in out
    assert not storage.exists(orphan)
    assert "Would delete 0 orphaned objects" in run("gc_blobs", "--dry-run", "--grace-hours", "0")
    assert storage.exists(key_of(kept["id"]))
    assert all(storage.exists(key) for key in others + part_keys)
    assert auth_client.get(f"/api/files/{kept['id']}/download").status_code == 200


def _chunk(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("chunk", data)


def test_gc_blobs_validates_its_arguments(db):
    with pytest.raises(CommandError):
        call_command("gc_blobs", "--grace-hours", "-1", stdout=StringIO())


# --- recompute_usage ----------------------------------------------------------------------------

def test_recompute_usage_repairs_drifted_counters(auth_client, other_client, user, other_user):
    upload(auth_client, "a.txt", b"12345")
    upload(auth_client, "a.txt", b"1234567")  # a second version counts
    gone = upload(auth_client, "b.txt", b"abc")
    trash(auth_client, gone["id"])  # trash counts too
    upload(other_client, "c.txt", b"right")
    User.objects.filter(pk=user.pk).update(storage_used=999)

    out = run("recompute_usage", "--dry-run")
    assert f"{user.username}: recorded 999, actual 15 (-984)" in out and "1 would be corrected" in out
    assert User.objects.get(pk=user.pk).storage_used == 999

    out = run("recompute_usage")
    assert "1 corrected" in out and other_user.username not in out
    assert usage(auth_client)["used"] == 15 == sum(usage(auth_client)[k] for k in ("live", "versions", "trash"))
    assert usage(other_client)["used"] == 5
    assert "0 corrected" in run("recompute_usage", "--user", user.username)
    with pytest.raises(CommandError):
        call_command("recompute_usage", "--user", "nobody-like-this", stdout=StringIO())


def test_usage_task_runs_the_same_service(auth_client, user):
    upload(auth_client, "a.txt", b"12345")
    User.objects.filter(pk=user.pk).update(storage_used=0)
    assert tasks.usage_recompute_task.delay().get() == 1
    assert usage(auth_client)["used"] == 5


# --- storage_check -----------------------------------------------------------------------------

def test_storage_check_passes_on_healthy_storage(auth_client):
    for n in range(3):
        upload(auth_client, f"f{n}.txt", f"content {n}".encode())
    out = run("storage_check", "--sample", "5")
    assert "Checked 3 blobs: 0 missing, 0 wrong size, 0 unreadable; re-hashed 3, 0 wrong." in out


def test_storage_check_fails_on_missing_resized_or_altered_objects(auth_client):
    missing = upload(auth_client, "missing.txt", b"will vanish")
    resized = upload(auth_client, "resized.txt", b"will shrink")
    altered = upload(auth_client, "altered.txt", b"will change")
    upload(auth_client, "fine.txt", b"stays fine")
    storage.delete(key_of(missing["id"]))
    _replace(key_of(resized["id"]), b"short")
    _replace(key_of(altered["id"]), b"WILL CHANGE")  # same size, other bytes

    err = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("storage_check", "--sample", "10", stdout=StringIO(), stderr=err)
    assert "1 missing, 1 wrong size, 0 unreadable; re-hashed 2, 1 wrong" in str(failure.value)
    report = err.getvalue()
    assert f"missing: {key_of(missing['id'])}" in report
    assert f"wrong size: {key_of(resized['id'])} (expected 11, found 5)" in report
    assert f"wrong content (SHA-256 differs): {key_of(altered['id'])}" in report


def _replace(key: str, data: bytes) -> None:
    storage.delete(key)
    storage.put_bytes(key, data)


def test_storage_check_exits_non_zero_from_the_shell(auth_client, tmp_path):
    """`manage.py storage_check` gives exit status 1 (CommandError) when something is wrong."""
    gone = upload(auth_client, "gone.txt", b"bytes")
    storage.delete(key_of(gone["id"]))
    with pytest.raises(SystemExit) as exited:
        from django.core.management import ManagementUtility

        ManagementUtility(["manage.py", "storage_check", "--sample", "0", "--verbosity", "0"]).execute()
    assert exited.value.code == 1


# --- Celery beat runs every app's periodic tasks -------------------------------------------------

# Tasks without required arguments are periodic by this project's convention;
# any exception must be named here with the reason.
NOT_PERIODIC: dict[str, str] = {}


def test_beat_schedule_names_real_tasks_and_every_periodic_task():
    celery_app.loader.import_default_modules()
    registered = {name: task for name, task in celery_app.tasks.items() if not name.startswith("celery.")}
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(registered), scheduled - set(registered)
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert float(getattr(entry["schedule"], "total_seconds", lambda: entry["schedule"])()) > 0 \
            if isinstance(entry["schedule"], (int, float)) else entry["schedule"] is not None
    periodic = set()
    for name, task in registered.items():
        parameters = inspect.signature(task.run).parameters.values()
        if not any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
            periodic.add(name)
    missing = periodic - scheduled - set(NOT_PERIODIC)
    assert not missing, f"periodic tasks with no CELERY_BEAT_SCHEDULE entry: {sorted(missing)}"
    for name in ["files.tasks.trash_purge_expired_task", "files.tasks.blobs_collect_task",
                 "files.tasks.uploads_expire_task", "storage_site.dashboards.tasks.usage_recompute_task",
                 "storage_site.dashboards.tasks.orphans_collect_task"]:
        assert name in scheduled
