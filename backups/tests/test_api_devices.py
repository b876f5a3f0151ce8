"""Device management through both doors: MegaVault /api/mobile/devices and
LayoodStorage /api/devices."""

import pytest

from accounts.models import User
from backups.models import Device

from .helpers import phone

pytestmark = pytest.mark.django_db


def test_list_marks_the_current_device(user):
    a = phone(user, "phone-A")
    b = phone(user, "phone-B", model="Galaxy S24")
    resp = a.get("/api/mobile/devices")
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["currentDevice"] == a.device
    by_id = {d["id"]: d for d in data["devices"]}
    assert set(by_id) == {a.device, b.device}
    assert by_id[a.device]["isCurrent"] is True and by_id[b.device]["isCurrent"] is False
    assert by_id[b.device]["model"] == "Galaxy S24"
    assert by_id[a.device]["settings"] == {"autoUpload": True, "backgroundSync": True, "wifiOnly": True,
                                           "uploadQuality": "original", "syncFolders": [], "maxCacheSize": None,
                                           "backupEnabled": True}
    assert by_id[a.device]["lastActiveAt"] is not None


def test_web_session_has_no_current_device(user, auth_client):
    phone(user, "phone-A")
    data = auth_client.get("/api/mobile/devices").json()["data"]
    assert data["currentDevice"] is None and len(data["devices"]) == 1


def test_update_settings(user):
    a = phone(user)
    resp = a.put(f"/api/mobile/devices/{a.device}/settings", {
        "autoUpload": False, "wifiOnly": False, "uploadQuality": "high", "syncFolders": ["/photos", "/documents"],
        "maxCacheSize": 1073741824}, format="json")
    assert resp.status_code == 200, resp.content
    settings = resp.json()["data"]["settings"]
    assert settings == {"autoUpload": False, "backgroundSync": True, "wifiOnly": False, "uploadQuality": "high",
                        "syncFolders": ["/photos", "/documents"], "maxCacheSize": 1073741824,
                        "backupEnabled": True}
    # The app's own device id names the device too.
    resp = a.put("/api/mobile/devices/device_A/settings", {"backgroundSync": False}, format="json")
    assert resp.json()["data"]["settings"]["backgroundSync"] is False


def test_bad_settings_are_400(user):
    a = phone(user)
    resp = a.put(f"/api/mobile/devices/{a.device}/settings", {"uploadQuality": "ultra"}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"
    resp = a.put(f"/api/mobile/devices/{a.device}/settings", {"maxCacheSize": -1}, format="json")
    assert resp.status_code == 400


def test_remove_device_ends_its_sessions_at_once(user):
    a = phone(user, "phone-A")
    b = phone(user, "phone-B")
    resp = a.delete(f"/api/mobile/devices/{b.device}")
    assert resp.status_code == 200 and resp.json() == {"success": True, "message": "Device removed"}
    after = b.get("/api/mobile/devices")
    assert after.status_code == 401 and after.json()["error"]["code"] == "INVALID_TOKEN"
    refresh = b.post("/api/mobile/auth/refresh", {"refreshToken": b.body["tokens"]["refreshToken"],
                                                  "deviceId": "phone-B"}, format="json")
    assert refresh.status_code == 401
    # A is unaffected and sees one device.
    assert [d["id"] for d in a.get("/api/mobile/devices").json()["data"]["devices"]] == [a.device]
    assert a.get(f"/api/mobile/devices/{b.device}").status_code == 404


def test_removed_devices_do_not_count_and_can_come_back(user):
    User.objects.filter(pk=user.pk).update(device_limit=1)
    a = phone(user, "phone-A")
    a.delete(f"/api/mobile/devices/{a.device}")
    b = phone(user, "phone-B")
    b.delete(f"/api/mobile/devices/{b.device}")
    again = phone(user, "phone-A")
    assert again.device == a.device  # the same device, its history kept
    assert Device.objects.live().count() == 1


def test_other_users_devices_are_404(user, other_user, other_client):
    a = phone(user)
    for resp in [other_client.put(f"/api/mobile/devices/{a.device}/settings", {"wifiOnly": False}, format="json"),
                 other_client.delete(f"/api/mobile/devices/{a.device}"),
                 other_client.get(f"/api/mobile/devices/{a.device}"),
                 other_client.put(f"/api/devices/{a.device}/settings", {"backupEnabled": False}, format="json"),
                 other_client.delete(f"/api/devices/{a.device}"),
                 other_client.put("/api/mobile/devices/device_A/settings", {"wifiOnly": False}, format="json")]:
        assert resp.status_code == 404, resp.content
        assert resp.json()["error"]["code"] == "DEVICE_NOT_FOUND"
    assert other_client.get("/api/mobile/devices").json()["data"]["devices"] == []
    assert Device.objects.get().wifi_only is True and Device.objects.get().removed_at is None


def test_primary_register_and_settings(auth_client, user):
    body = {"deviceId": "web-phone", "platform": "ios", "model": "iPhone 15 Pro", "osVersion": "17.2",
            "appVersion": "1.2.0"}
    resp = auth_client.post("/api/devices/register", body, format="json")
    assert resp.status_code == 201, resp.content
    device = resp.json()["data"]
    assert device["platform"] == "ios" and device["isCurrent"] is False
    again = auth_client.post("/api/devices/register", body, format="json")
    assert again.status_code == 200 and again.json()["data"]["id"] == device["id"]
    resp = auth_client.put(f"/api/devices/{device['id']}/settings", {"backupEnabled": False, "name": "Work phone"},
                           format="json")
    assert resp.status_code == 200
    assert resp.json()["data"]["settings"]["backupEnabled"] is False and resp.json()["data"]["name"] == "Work phone"
    listed = auth_client.get("/api/devices").json()["data"]
    assert [d["id"] for d in listed] == [device["id"]]


def test_primary_register_over_limit(auth_client, user):
    User.objects.filter(pk=user.pk).update(device_limit=1)
    assert auth_client.post("/api/devices/register", {"deviceId": "one"}, format="json").status_code == 201
    resp = auth_client.post("/api/devices/register", {"deviceId": "two"}, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "DEVICE_LIMIT_REACHED"
    assert Device.objects.count() == 1


def test_primary_register_needs_a_device_id(auth_client):
    resp = auth_client.post("/api/devices/register", {"platform": "android"}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "VALIDATION_ERROR"


def test_devices_need_a_token(api_client):
    assert api_client.get("/api/mobile/devices").status_code == 401
    assert api_client.post("/api/devices/register", {"deviceId": "x"}, format="json").status_code == 401
