"""Auto-backup through the LayoodStorage API: sessions, uploads with an outcome for
every file, de-duplication, logs, analytics."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from backups.models import BackupFile, BackupSession
from files.tests.helpers import download, upload, usage
from folders.models import Node

from .helpers import logs, phone, send, start

pytestmark = pytest.mark.django_db

PHOTO = b"\xff\xd8\xff" + b"photo-bytes " * 200
OTHER = b"\xff\xd8\xff" + b"another photo " * 150


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def a(user):
    return phone(user, "phone-A")


def test_backup_round_trip(a, user):
    session = start(a, a.device, expectedFiles=2, expectedBytes=len(PHOTO) + len(OTHER))
    assert session["status"] == "running" and session["deviceId"] == a.device
    first = send(a, session["sessionId"], "IMG_0001.jpg", PHOTO, folder="DCIM/Camera", assetId="asset-1",
                 capturedAt="2024-01-20T14:30:00Z")
    assert first["data"]["file"]["outcome"] == "uploaded"
    node = Node.objects.get(uuid=first["data"]["file"]["fileId"])
    path = [n.name for n in Node.objects.filter(pk__in=node.ancestor_ids).order_by("depth")]
    device_name = a.body["device"]["name"]
    assert path == ["", "Backups", device_name, "DCIM", "Camera"] and device_name.endswith("'s Pixel 7")
    assert node.metadata["capturedAt"] == "2024-01-20T14:30:00Z" and node.metadata["backup"]["assetId"] == "asset-1"
    assert download(a, str(node.uuid)) == PHOTO
    send(a, session["sessionId"], "IMG_0002.jpg", OTHER)
    resp = a.post("/api/backup/complete", {"sessionId": session["sessionId"]}, format="json")
    assert resp.status_code == 200, resp.content
    done = resp.json()["data"]
    assert done["session"]["status"] == "completed"
    assert done["summary"] == {"files": {"uploaded": 2, "alreadyPresent": 0, "failed": 0, "pending": 0},
                               "bytesUploaded": len(PHOTO) + len(OTHER), "bytesAlreadyPresent": 0}
    # Completing again answers the same.
    again = a.post("/api/backup/complete", {"sessionId": session["sessionId"]}, format="json")
    assert again.status_code == 200 and again.json()["data"]["summary"] == done["summary"]
    # A completed session takes no more files.
    closed = send(a, session["sessionId"], "late.jpg", b"late", expect=409)
    assert closed["error"]["code"] == "SESSION_COMPLETED"


def test_backing_up_an_existing_photo_costs_no_quota(a, user):
    existing = upload(a, "holiday.jpg", PHOTO)
    before = usage(a)
    session = start(a, a.device)
    body = send(a, session["sessionId"], "IMG_0001.jpg", PHOTO, expect=200, assetId="asset-1")
    row = body["data"]["file"]
    assert row["outcome"] == "already_present" and row["fileId"] == existing["id"]
    after = usage(a)
    assert after["used"] == before["used"] and after["reserved"] == 0
    assert Node.objects.filter(owner=user, kind="file").count() == 1
    # The same photo twice in a backup is stored once.
    send(a, session["sessionId"], "IMG_0009.jpg", OTHER)
    used = usage(a)["used"]
    again = send(a, session["sessionId"], "IMG_0010.jpg", OTHER, expect=200)
    assert again["data"]["file"]["outcome"] == "already_present"
    assert usage(a)["used"] == used


def test_two_phones_back_up_the_same_photo_once(user):
    a, b = phone(user, "phone-A"), phone(user, "phone-B")
    send(a, start(a, a.device)["sessionId"], "IMG_1.jpg", PHOTO)
    used = usage(a)["used"]
    body = send(b, start(b, b.device)["sessionId"], "IMG_1.jpg", PHOTO, expect=200)
    assert body["data"]["file"]["outcome"] == "already_present"
    assert usage(a)["used"] == used


def test_check_tells_which_files_are_missing(a, user):
    session = start(a, a.device)
    send(a, session["sessionId"], "IMG_1.jpg", PHOTO, assetId="asset-1")
    resp = a.post("/api/backup/check", {"deviceId": a.device, "items": [
        {"checksum": sha(PHOTO)}, {"checksum": "sha256:" + sha(OTHER), "assetId": "asset-2"},
        {"assetId": "asset-1"}, {"assetId": "asset-unknown"},
        {"assetId": "asset-1", "checksum": sha(OTHER)}]}, format="json")
    assert resp.status_code == 200, resp.content
    data = resp.json()["data"]
    assert [item["present"] for item in data["items"]] == [True, False, True, False, False]
    assert data["items"][0]["matchedBy"] == "checksum" and data["items"][2]["matchedBy"] == "assetId"
    assert data["present"] == 2 and data["missing"] == 3
    # A trashed file is no longer held: the asset is missing again.
    a.delete(f"/api/files/{data['items'][0]['fileId']}/delete")
    again = a.post("/api/backup/check", {"deviceId": a.device, "items": [{"assetId": "asset-1"},
                                                                        {"checksum": sha(PHOTO)}]}, format="json")
    assert [item["present"] for item in again.json()["data"]["items"]] == [False, False]


def test_check_validates_items(a):
    for body in [{"items": []}, {"items": [{}]}, {"items": [{"checksum": "abc"}]},
                 {"deviceId": "nope", "items": [{"assetId": "x"}]}]:
        resp = a.post("/api/backup/check", body, format="json")
        assert resp.status_code in (400, 404), body
        assert resp.json()["success"] is False


def test_every_file_ends_with_an_outcome(a, user):
    session = start(a, a.device, expectedFiles=4)
    sid = session["sessionId"]
    send(a, sid, "ok.jpg", PHOTO)
    send(a, sid, "dup.jpg", PHOTO, expect=200)
    bad = send(a, sid, "bad.jpg", OTHER, expect=400, checksum=sha(b"something else"))
    assert bad["error"]["code"] == "CHECKSUM_MISMATCH"
    User.objects.filter(pk=user.pk).update(storage_quota_override=1, storage_quota=1)
    full = send(a, sid, "big.jpg", OTHER + b"x", expect=413)
    assert full["error"]["code"] == "STORAGE_QUOTA_EXCEEDED"
    data = logs(a, sid)
    outcomes = [(item["name"], item["outcome"], item["reasonCode"]) for item in data["items"]]
    assert outcomes == [("ok.jpg", "uploaded", ""), ("dup.jpg", "already_present", ""),
                        ("bad.jpg", "failed", "CHECKSUM_MISMATCH"), ("big.jpg", "failed", "STORAGE_QUOTA_EXCEEDED")]
    assert data["items"][3]["reason"]
    assert data["summary"]["files"] == {"uploaded": 1, "alreadyPresent": 1, "failed": 2, "pending": 0}
    assert data["pagination"]["total"] == 4
    failed = logs(a, sid, outcome="failed")
    assert [item["name"] for item in failed["items"]] == ["bad.jpg", "big.jpg"]
    # Nothing half-stored: only the one uploaded file exists, no quota held.
    assert Node.objects.filter(owner=user, kind="file").count() == 1
    assert User.objects.get(pk=user.pk).storage_reserved == 0


def test_a_retried_file_supersedes_its_failure(a):
    sid = start(a, a.device)["sessionId"]
    send(a, sid, "IMG.jpg", PHOTO, expect=400, checksum=sha(b"wrong"), assetId="asset-7")
    send(a, sid, "IMG.jpg", PHOTO, assetId="asset-7")
    items = logs(a, sid)["items"]
    assert [(i["outcome"], i["superseded"]) for i in items] == [("failed", True), ("uploaded", False)]
    analytics = a.get("/api/backup/analytics").json()["data"]
    assert analytics["overall"]["successRate"] == 100.0


def test_start_errors(a, user, auth_client):
    assert start(a, "no-such-device", expect=404)["error"]["code"] == "DEVICE_NOT_FOUND"
    a.put(f"/api/devices/{a.device}/settings", {"backupEnabled": False}, format="json")
    assert start(a, a.device, expect=403)["error"]["code"] == "BACKUP_DISABLED"


def test_disabled_device_refuses_uploads_of_a_running_session(a):
    sid = start(a, a.device)["sessionId"]
    a.put(f"/api/devices/{a.device}/settings", {"backupEnabled": False}, format="json")
    assert send(a, sid, "x.jpg", PHOTO, expect=403)["error"]["code"] == "BACKUP_DISABLED"


def test_session_not_found_and_expired(a, settings):
    body = send(a, "00000000-0000-0000-0000-000000000000", "x.jpg", PHOTO, expect=404)
    assert body["error"]["code"] == "SESSION_NOT_FOUND"
    assert send(a, "not-a-uuid", "x.jpg", PHOTO, expect=404)["error"]["code"] == "SESSION_NOT_FOUND"
    sid = start(a, a.device)["sessionId"]
    BackupSession.objects.filter(uuid=sid).update(
        last_activity_at=timezone.now() - timedelta(hours=settings.BACKUP_SESSION_IDLE_HOURS + 1))
    assert send(a, sid, "x.jpg", PHOTO, expect=404)["error"]["code"] == "SESSION_EXPIRED"
    assert BackupSession.objects.get(uuid=sid).status == "expired"
    assert not BackupFile.objects.exists()


def test_a_new_session_interrupts_the_running_one(a):
    first = start(a, a.device)["sessionId"]
    start(a, a.device)
    assert send(a, first, "x.jpg", PHOTO, expect=404)["error"]["code"] == "SESSION_EXPIRED"
    assert BackupSession.objects.get(uuid=first).status == "interrupted"


def test_other_users_sessions_are_404(a, other_client, other_user):
    sid = start(a, a.device)["sessionId"]
    send(a, sid, "x.jpg", PHOTO)
    assert start(other_client, a.device, expect=404)["error"]["code"] == "DEVICE_NOT_FOUND"
    assert send(other_client, sid, "y.jpg", OTHER, expect=404)["error"]["code"] == "SESSION_NOT_FOUND"
    assert logs(other_client, sid, expect=404)["error"]["code"] == "SESSION_NOT_FOUND"
    resp = other_client.post("/api/backup/complete", {"sessionId": sid}, format="json")
    assert resp.status_code == 404
    assert BackupSession.objects.get(uuid=sid).status == "running"
    # Their check does not see this user's files.
    resp = other_client.post("/api/backup/check", {"items": [{"checksum": sha(PHOTO)}]}, format="json")
    assert resp.json()["data"]["items"][0]["present"] is False
    assert other_client.get("/api/backup/analytics").json()["data"]["overall"]["files"] == 0


def test_analytics_per_device_and_overall(user):
    a, b = phone(user, "phone-A"), phone(user, "phone-B")
    sa = start(a, a.device, expectedFiles=2, expectedBytes=len(PHOTO) + len(OTHER))["sessionId"]
    send(a, sa, "1.jpg", PHOTO)
    sb = start(b, b.device, expectedFiles=1)["sessionId"]
    send(b, sb, "1.jpg", PHOTO, expect=200)
    send(b, sb, "2.jpg", OTHER, expect=400, checksum=sha(b"nope"))
    b.post("/api/backup/complete", {"sessionId": sb}, format="json")
    data = a.get("/api/backup/analytics").json()["data"]
    devices = {d["deviceId"]: d for d in data["devices"]}
    da, db = devices[a.device], devices[b.device]
    assert (da["files"], da["bytesUploaded"], da["lastBackupAt"]) == (1, len(PHOTO), None)
    assert da["runningSession"]["sessionId"] == sa
    assert da["runningSession"]["percent"] == round(len(PHOTO) * 100 / (len(PHOTO) + len(OTHER)), 1)
    assert (db["files"], db["filesAlreadyPresent"], db["filesFailed"], db["successRate"]) == (1, 1, 1, 50.0)
    assert db["lastBackupAt"] is not None and db["runningSession"] is None
    overall = data["overall"]
    assert (overall["files"], overall["filesFailed"], overall["devices"]) == (2, 1, 2)
    assert overall["successRate"] == round(200 / 3, 1)
    assert overall["lastBackupAt"] == db["lastBackupAt"]


def test_backup_is_throttled(a, monkeypatch):
    from backups.api.views import BackupThrottledView

    monkeypatch.setattr(BackupThrottledView, "THROTTLE_RATES", {"backup": "3/min"}, raising=False)
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES,
                                                               "backup": "3/min"})
    codes = [a.post("/api/backup/start", {"deviceId": a.device}, format="json").status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    resp = a.post("/api/backup/start", {"deviceId": a.device}, format="json")
    assert resp.json()["error"]["code"] == "TOO_MANY_ATTEMPTS" and int(resp["Retry-After"]) >= 1


def test_device_names_make_safe_folders(user):
    a = phone(user, "phone-A", name="Work/Phone")
    b = phone(user, "phone-B", name="Work-Phone")
    fa = send(a, start(a, a.device)["sessionId"], "1.jpg", PHOTO)["data"]["file"]["fileId"]
    fb = send(b, start(b, b.device)["sessionId"], "2.jpg", OTHER)["data"]["file"]["fileId"]
    folder_a = Node.objects.get(uuid=fa).parent
    folder_b = Node.objects.get(uuid=fb).parent
    assert folder_a.name == "Work-Phone" and folder_b.name == "Work-Phone (1)"
