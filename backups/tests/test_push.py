"""Push notifications through the file backend: what a phone would receive, for
shares, uploads, backups, storage and security, with preferences and quiet hours."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import User
from backups.models import Notification, PushRegistration
from backups.services.notifications import quiet_until
from backups.tasks import push_release_held_task
from files.tests.helpers import upload

from .helpers import phone, send, start

pytestmark = pytest.mark.django_db


def register(client, expect=200, **body):
    body.setdefault("pushToken", "tok-" + client.device)
    body.setdefault("platform", "android")
    resp = client.post("/api/mobile/notifications/register", body, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()


def quiet_now(zone="Asia/Kolkata") -> dict:
    local = timezone.now().astimezone(ZoneInfo(zone))
    return {"enabled": True, "start": (local - timedelta(hours=1)).strftime("%H:%M"),
            "end": (local + timedelta(hours=1)).strftime("%H:%M"), "timezone": zone}


def share(sharer, recipient_user):
    from accounts.models import User, UserGroup

    # Copies go only to people the sender shares a group with.
    team, _ = UserGroup.objects.get_or_create(name="Push test team")
    team.members.add(User.objects.get(email=sharer.body["user"]["email"]), recipient_user)
    file = upload(sharer, "report.txt", b"r" * 50)
    resp = sharer.post(f"/api/nodes/{file['id']}", {"share_copy_with": [str(recipient_user.uuid)]}, format="json")
    assert resp.status_code == 204, resp.content
    return file


def test_register_with_preferences_and_quiet_hours(user):
    a = phone(user)
    body = register(a, deviceId="device_A", preferences={
        "uploads": False, "shares": True, "storage": True, "security": True,
        "quietHours": {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "America/Los_Angeles"}})
    assert body["data"]["deviceId"] == a.device
    assert body["data"]["preferences"] == {
        "uploads": False, "shares": True, "storage": True, "security": True,
        "quietHours": {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "America/Los_Angeles"}}
    registration = PushRegistration.objects.get()
    assert (registration.token, registration.quiet_start) == ("tok-" + a.device, time(22, 0))
    # Sending again replaces the registration; the device defaults to the session's.
    register(a, pushToken="tok-2")
    assert list(PushRegistration.objects.values_list("token", flat=True)) == ["tok-2"]


@pytest.mark.parametrize("preferences", [
    {"quietHours": {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}},
    {"quietHours": {"enabled": True, "start": "25:00", "end": "07:00", "timezone": "UTC"}},
    {"quietHours": {"enabled": True, "timezone": "UTC"}},
    {"quietHours": {"enabled": True, "start": "07:00", "end": "07:00", "timezone": "UTC"}},
    {"uploads": "sometimes"},
])
def test_bad_preferences_are_400(user, preferences):
    a = phone(user)
    body = register(a, expect=400, preferences=preferences)
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert not PushRegistration.objects.exists()


def test_register_for_another_users_device_is_404(user, other_user):
    a = phone(user)
    b = phone(other_user, "their-phone")
    assert register(b, expect=404, deviceId=a.device)["error"]["code"] == "DEVICE_NOT_FOUND"
    assert register(b, expect=404, deviceId="device_A")["error"]["code"] == "DEVICE_NOT_FOUND"


def test_web_session_must_name_the_device(user, auth_client):
    phone(user)
    resp = auth_client.post("/api/mobile/notifications/register", {"pushToken": "t", "platform": "ios"},
                            format="json")
    assert resp.status_code == 404
    resp = auth_client.post("/api/mobile/notifications/register", {"pushToken": "t", "platform": "ios",
                                                                    "deviceId": "device_A"}, format="json")
    assert resp.status_code == 200


def test_share_notifies_the_recipients_devices(user, other_user, outbox):
    mine, theirs = phone(user), phone(other_user, "their-phone")
    register(mine)
    register(theirs)
    share(mine, other_user)
    received = [m for m in outbox() if m["category"] == "shares"]
    assert len(received) == 1
    assert received[0]["token"] == "tok-" + theirs.device and received[0]["userId"] == str(other_user.uuid)
    assert user.display_name in received[0]["body"] and "report.txt" in received[0]["body"]


def test_preferences_are_respected(user, other_user, outbox):
    mine, theirs = phone(user), phone(other_user, "their-phone")
    register(theirs, preferences={"shares": False})
    share(mine, other_user)
    assert [m for m in outbox() if m["category"] == "shares"] == []
    assert not Notification.objects.filter(category="shares").exists()


def test_quiet_hours_hold_back_all_but_security(user, other_user, outbox):
    mine, theirs = phone(user), phone(other_user, "their-phone")
    register(theirs, preferences={"quietHours": quiet_now()})
    share(mine, other_user)
    phone(other_user, "their-new-phone")  # a security message: a new device signed in
    categories = [m["category"] for m in outbox()]
    assert categories == ["security"]
    held = Notification.objects.get(category="shares")
    assert held.status == "held" and held.held_until > timezone.now()
    # Still quiet: the periodic task leaves it alone.
    push_release_held_task.delay()
    assert [m["category"] for m in outbox()] == ["security"]
    # Once the quiet hours are over, it goes out.
    Notification.objects.filter(pk=held.pk).update(held_until=timezone.now() - timedelta(seconds=1))
    PushRegistration.objects.update(quiet_enabled=False)
    push_release_held_task.delay()
    assert [m["category"] for m in outbox()] == ["security", "shares"]
    assert Notification.objects.get(pk=held.pk).status == "sent"
    push_release_held_task.delay()
    assert len(outbox()) == 2  # sent once


def test_quiet_until_in_the_users_time_zone():
    reg = PushRegistration(quiet_enabled=True, quiet_start=time(22, 0), quiet_end=time(7, 0),
                           timezone="America/Los_Angeles")
    la = ZoneInfo("America/Los_Angeles")
    late = datetime(2024, 1, 20, 23, 30, tzinfo=la)
    assert quiet_until(reg, late) == datetime(2024, 1, 21, 7, 0, tzinfo=la)
    early = datetime(2024, 1, 21, 6, 59, tzinfo=la)
    assert quiet_until(reg, early) == datetime(2024, 1, 21, 7, 0, tzinfo=la)
    assert quiet_until(reg, datetime(2024, 1, 21, 7, 0, tzinfo=la)) is None
    assert quiet_until(reg, datetime(2024, 1, 21, 12, 0, tzinfo=la)) is None
    # The same instant is not quiet for someone in Kolkata.
    reg.timezone = "Asia/Kolkata"
    assert quiet_until(reg, late) is None
    # A daytime window.
    reg.quiet_start, reg.quiet_end, reg.timezone = time(13, 0), time(15, 0), "UTC"
    assert quiet_until(reg, datetime(2024, 1, 21, 14, 0, tzinfo=ZoneInfo("UTC"))) == \
        datetime(2024, 1, 21, 15, 0, tzinfo=ZoneInfo("UTC"))
    reg.quiet_enabled = False
    assert quiet_until(reg, datetime(2024, 1, 21, 14, 0, tzinfo=ZoneInfo("UTC"))) is None


def test_storage_warning_once_per_crossing(user, outbox):
    a = phone(user)
    register(a)
    User.objects.filter(pk=user.pk).update(storage_quota=1000, storage_quota_override=1000)
    upload(a, "a.bin", b"a" * 850)
    assert [m["category"] for m in outbox()] == []
    upload(a, "b.bin", b"b" * 60)  # 91 %
    upload(a, "c.bin", b"c" * 10)  # still above: no second warning
    storage = [m for m in outbox() if m["category"] == "storage"]
    assert len(storage) == 1 and "91%" in storage[0]["title"]
    # Below the line again (more room), then over it once more: a new warning.
    User.objects.filter(pk=user.pk).update(storage_quota=10_000, storage_quota_override=10_000)
    upload(a, "d.bin", b"d")
    User.objects.filter(pk=user.pk).update(storage_quota=1000, storage_quota_override=1000)
    upload(a, "e.bin", b"e")
    assert len([m for m in outbox() if m["category"] == "storage"]) == 2


def test_backup_sends_one_summary_not_one_per_file(user, outbox):
    a = phone(user)
    register(a)
    sid = start(a, a.device)["sessionId"]
    for n in range(3):
        send(a, sid, f"IMG_{n}.jpg", b"photo %d" % n)
    assert outbox() == []
    a.post("/api/backup/complete", {"sessionId": sid}, format="json")
    a.post("/api/backup/complete", {"sessionId": sid}, format="json")
    received = outbox()
    assert [m["category"] for m in received] == ["uploads"]
    assert received[0]["title"] == "Backup complete" and "3 new" in received[0]["body"]
    assert received[0]["collapseKey"] == f"backup-{sid}"


def test_background_upload_finished_and_failed(user, outbox):
    a = phone(user)
    register(a)
    init = a.post("/api/mobile/upload/init", {"files": [{"localId": "l1", "name": "clip.mp4", "size": 5}]},
                  format="json").json()["data"]
    upload_id = init["files"][0]["uploadId"]
    a.put(f"/api/mobile/upload/chunk?uploadId={upload_id}&index=0", b"12345",
          content_type="application/octet-stream")
    assert a.post("/api/mobile/upload/complete", {"uploadId": upload_id}, format="json").status_code == 200
    init = a.post("/api/mobile/upload/init", {"files": [{"localId": "l2", "name": "bad.mp4", "size": 5,
                                                         "checksum": "sha256:" + "0" * 64}]},
                  format="json").json()["data"]
    upload_id = init["files"][0]["uploadId"]
    a.put(f"/api/mobile/upload/chunk?uploadId={upload_id}&index=0", b"12345",
          content_type="application/octet-stream")
    assert a.post("/api/mobile/upload/complete", {"uploadId": upload_id}, format="json").status_code == 400
    titles = [(m["category"], m["title"]) for m in outbox()]
    assert titles == [("uploads", "Upload complete"), ("uploads", "Upload failed")]
    assert "bad.mp4" in outbox()[1]["body"]


def test_plain_uploads_do_not_push(user, outbox):
    a = phone(user)
    register(a)
    upload(a, "note.txt", b"hi")
    assert outbox() == []


def test_removed_device_gets_nothing(user, other_user, outbox):
    mine, theirs = phone(user), phone(other_user, "their-phone")
    register(theirs)
    keeper = phone(other_user, "their-other-phone")
    keeper.delete(f"/api/mobile/devices/{theirs.device}")
    assert not PushRegistration.objects.exists()
    share(mine, other_user)
    assert [m for m in outbox() if m["category"] == "shares"] == []


def test_a_token_belongs_to_one_account(user, other_user, outbox):
    mine = phone(user, "shared-phone")
    register(mine, pushToken="install-token")
    theirs = phone(other_user, "shared-phone")  # another account signs in on the same phone
    register(theirs, pushToken="install-token")
    assert PushRegistration.objects.get().device.owner == other_user
    share(theirs, user)
    assert [m for m in outbox() if m["category"] == "shares"] == []
