"""Contacts backup: versioned snapshots per device, listed and downloaded to restore."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files.tests.helpers import usage

from .helpers import phone

pytestmark = pytest.mark.django_db

VCARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Asha Rao\r\nTEL;TYPE=CELL:+919812345678\r\nEND:VCARD\r\n"
         "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ravi Kumar\r\nEMAIL:ravi@example.com\r\nEND:VCARD\r\n")
CONTACTS = [{"name": "Asha Rao", "phones": [{"type": "mobile", "number": "+919812345678"}]},
            {"name": "Ravi Kumar", "emails": ["ravi@example.com"], "organization": "Layood"}]


@pytest.fixture
def a(user):
    return phone(user, "phone-A")


def backup(client, expect=201, **body):
    resp = client.post("/api/backup/contacts", body, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()


def fetch(client, snapshot_id, expect=200):
    resp = client.get(f"/api/backup/contacts/{snapshot_id}/download")
    assert resp.status_code == expect, resp.status_code
    return b"".join(resp.streaming_content) if expect == 200 else resp.json()


def test_json_snapshots_are_versions_and_restore(a):
    first = backup(a, deviceId=a.device, format="json", contacts=CONTACTS)["data"]
    assert first["contactCount"] == 2 and first["format"] == "json" and first["version"] == 1
    second = backup(a, deviceId=a.device, contacts=CONTACTS[:1])["data"]
    assert second["version"] == 2 and second["fileId"] == first["fileId"]
    assert json.loads(fetch(a, first["id"])) == {"contacts": CONTACTS}
    assert json.loads(fetch(a, second["id"])) == {"contacts": CONTACTS[:1]}
    listed = a.get("/api/backup/contacts").json()["data"]
    assert [s["id"] for s in listed] == [second["id"], first["id"]]
    # The snapshots are versions of an ordinary file in the device's backup folder.
    versions = a.get(f"/api/files/{first['fileId']}/versions").json()["data"]
    assert len(versions) == 2


def test_unchanged_contacts_add_no_version(a):
    first = backup(a, deviceId=a.device, contacts=CONTACTS)["data"]
    used = usage(a)["used"]
    same = backup(a, expect=200, deviceId=a.device, contacts=CONTACTS)
    assert same["data"]["id"] == first["id"] and same["message"].startswith("Contacts unchanged")
    assert usage(a)["used"] == used


def test_vcard_as_json_body_and_as_file(a):
    snap = backup(a, deviceId=a.device, format="vcard", vcard=VCARD)["data"]
    assert snap["contactCount"] == 2 and snap["format"] == "vcard"
    resp = a.get(f"/api/backup/contacts/{snap['id']}/download")
    assert resp["Content-Type"].startswith("text/vcard") and "attachment" in resp["Content-Disposition"]
    assert b"".join(resp.streaming_content).decode() == VCARD
    more = VCARD + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Third\r\nEND:VCARD\r\n"
    resp = a.post("/api/backup/contacts", {"deviceId": a.device, "file": SimpleUploadedFile(
        "contacts.vcf", more.encode(), content_type="text/vcard")}, format="multipart")
    assert resp.status_code == 201, resp.content
    assert resp.json()["data"]["contactCount"] == 3 and resp.json()["data"]["version"] == 2


def test_device_filter(user):
    a, b = phone(user, "phone-A"), phone(user, "phone-B")
    sa = backup(a, deviceId=a.device, contacts=CONTACTS)["data"]
    backup(b, deviceId=b.device, contacts=CONTACTS[:1])
    listed = a.get("/api/backup/contacts", {"deviceId": a.device}).json()["data"]
    assert [s["id"] for s in listed] == [sa["id"]]


@pytest.mark.parametrize("body", [
    {"format": "json", "contacts": "not a list"},
    {"format": "vcard", "vcard": "BEGIN:VCARD\nFN:Half a card\n"},
    {"format": "vcard", "vcard": "hello"},
    {"format": "json"},
    {"format": "xml", "contacts": []},
])
def test_bad_contacts_are_400_and_store_nothing(a, body):
    resp = a.post("/api/backup/contacts", {"deviceId": a.device, **body}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] in ("INVALID_CONTACTS", "VALIDATION_ERROR")
    assert a.get("/api/backup/contacts").json()["data"] == []


def test_too_big_is_413(a, settings):
    settings.CONTACTS_MAX_SIZE = 100
    body = backup(a, expect=413, deviceId=a.device, contacts=CONTACTS * 5)
    assert body["error"]["code"] == "FILE_TOO_LARGE"


def test_disabled_device_and_unknown_device(a):
    a.put(f"/api/devices/{a.device}/settings", {"backupEnabled": False}, format="json")
    assert backup(a, expect=403, deviceId=a.device, contacts=CONTACTS)["error"]["code"] == "BACKUP_DISABLED"
    assert backup(a, expect=404, deviceId="nope", contacts=CONTACTS)["error"]["code"] == "DEVICE_NOT_FOUND"


def test_other_users_snapshots_are_404(a, other_client):
    snap = backup(a, deviceId=a.device, contacts=CONTACTS)["data"]
    assert fetch(other_client, snap["id"], expect=404)["error"]["code"] == "SNAPSHOT_NOT_FOUND"
    assert other_client.get("/api/backup/contacts").json()["data"] == []
    resp = other_client.get("/api/backup/contacts", {"deviceId": a.device})
    assert resp.status_code == 404
    assert backup(other_client, expect=404, deviceId=a.device, contacts=CONTACTS)["error"]["code"] == \
        "DEVICE_NOT_FOUND"
    assert fetch(a, "not-a-uuid", expect=404)["error"]["code"] == "SNAPSHOT_NOT_FOUND"


def test_deleted_file_makes_the_snapshot_gone(a):
    snap = backup(a, deviceId=a.device, contacts=CONTACTS)["data"]
    a.delete(f"/api/files/{snap['fileId']}/delete")
    assert fetch(a, snap["id"], expect=404)["error"]["code"] == "SNAPSHOT_GONE"
