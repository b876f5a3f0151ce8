"""The admin backup overview endpoint and the Django admin pages."""

import pytest
from django.test import Client as BrowserClient

from accounts import services
from accounts.models import Role, User
from backups.models import BackupSession, Device

from .helpers import phone, send, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(make_user):
    admin = make_user()
    User.objects.filter(pk=admin.pk).update(role=Role.ADMIN)
    admin.refresh_from_db()
    return admin


@pytest.fixture
def admin_client(admin_user, client_for):
    return client_for(admin_user)


@pytest.fixture
def browser(db):
    admin, _, _ = services.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    client = BrowserClient()
    client.force_login(admin)
    return client


def test_overview_counts(admin_client, user, other_user):
    a, b = phone(user, "a"), phone(other_user, "b", platform="ios")
    sa = start(a, a.device)["sessionId"]
    send(a, sa, "1.jpg", b"one")
    send(a, sa, "2.jpg", b"one", expect=200)
    send(a, sa, "3.jpg", b"three", expect=400, checksum="0" * 64)
    a.post("/api/backup/complete", {"sessionId": sa}, format="json")
    start(b, b.device)
    resp = admin_client.get("/api/admin/backup/overview")
    assert resp.status_code == 200, resp.content
    data = resp.json()["data"]
    assert data["devices"]["live"] == 2 and data["devices"]["byPlatform"] == {"android": 1, "ios": 1}
    assert data["sessions"]["byStatus"]["completed"] == 1 and data["sessions"]["byStatus"]["running"] == 1
    assert data["sessions"]["total"] == 2
    assert (data["files"]["filesUploaded"], data["files"]["filesAlreadyPresent"], data["files"]["filesFailed"]) == \
        (1, 1, 1)
    assert data["files"]["bytesUploaded"] == 3
    assert data["failuresByReason"] == [{"code": "CHECKSUM_MISMATCH", "count": 1}]
    assert data["last24h"]["sessionsStarted"] == 2 and data["last24h"]["files"] == 2


def test_overview_is_for_admins(auth_client, api_client):
    resp = auth_client.get("/api/admin/backup/overview")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "INSUFFICIENT_ROLE"
    assert api_client.get("/api/admin/backup/overview").status_code == 401


def test_overview_uses_a_fixed_number_of_queries(admin_client, user, django_assert_max_num_queries):
    for n in range(3):
        a = phone(user, f"d{n}")
        sid = start(a, a.device)["sessionId"]
        send(a, sid, f"{n}.jpg", b"x%d" % n)
    with django_assert_max_num_queries(12):
        assert admin_client.get("/api/admin/backup/overview").status_code == 200


def test_admin_pages_render_and_remove_action(browser, user):
    a = phone(user)
    sid = start(a, a.device)["sessionId"]
    send(a, sid, "1.jpg", b"one")
    a.post("/api/mobile/notifications/register", {"pushToken": "t", "platform": "android"}, format="json")
    device = Device.objects.get()
    session = BackupSession.objects.get()
    for url in ["/admin/backups/device/", f"/admin/backups/device/{device.pk}/change/",
                "/admin/backups/device/?q=Pixel", "/admin/backups/device/?platform__exact=android",
                "/admin/backups/backupsession/", f"/admin/backups/backupsession/{session.pk}/change/",
                "/admin/backups/backupfile/", "/admin/backups/pushregistration/", "/admin/backups/notification/",
                "/admin/backups/contactsnapshot/"]:
        assert browser.get(url).status_code == 200, url
    page = browser.get(f"/admin/backups/backupsession/{session.pk}/change/").content.decode()
    assert "1.jpg" in page
    resp = browser.post("/admin/backups/device/", {"action": "remove", "_selected_action": [device.pk]})
    assert resp.status_code == 302
    assert a.get("/api/mobile/devices").status_code == 401
    assert Device.objects.get().removed_at is not None
