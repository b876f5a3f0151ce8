import json
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.tests.factories import PASSWORD
from accounts.tests.helpers import bearer
from storage_site.testing.client import Client


def device_info(device_id="device_A", **extra) -> dict:
    return {"platform": "android", "model": "Pixel 7", "osVersion": "14", "appVersion": "1.2.0",
            "deviceId": device_id, **extra}


def mobile_register(api_client, email, password=PASSWORD, device_id="device_A", expect=200, **extra):
    resp = api_client.post("/api/mobile/auth/register", {
        "email": email, "password": password, "deviceInfo": device_info(device_id, **extra)}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()


def phone(user, device_id="device_A", **extra) -> Client:
    """A client signed in through the MegaVault door as `user`, from device `device_id`."""
    client = Client()
    body = mobile_register(client, user.email, device_id=device_id, **extra)
    client.credentials(**bearer(body["tokens"]["accessToken"]))
    client.body = body
    client.device = body["device"]["id"]
    return client


def start(client, device, expect=201, **extra):
    resp = client.post("/api/backup/start", {"deviceId": device, **extra}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 201 else resp.json()


def send(client, session, name, data, expect=201, **fields):
    resp = client.post("/api/backup/upload", {
        "sessionId": session, "file": SimpleUploadedFile(name, data, content_type="image/jpeg"), **fields},
        format="multipart")
    assert resp.status_code == expect, resp.content
    return resp.json()


def logs(client, session, expect=200, **params):
    resp = client.get(f"/api/backup/session/{session}/logs", params)
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 200 else resp.json()


def pushes(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
