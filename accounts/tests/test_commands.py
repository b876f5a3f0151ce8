from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_ensure_admin_generates_a_password_once(monkeypatch, api_client):
    for name in ("ADMIN_EMAIL", "ADMIN_PASSWORD", "ADMIN_PHONE"):
        monkeypatch.delenv(name, raising=False)
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    password = out.getvalue().split("password: ")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.role == "admin"
    assert admin.check_password(password)

    again = StringIO()
    call_command("ensure_admin", stdout=again)
    assert "nothing changed" in again.getvalue()
    assert password not in again.getvalue()
    assert User.objects.filter(username="admin").count() == 1
    admin.refresh_from_db()
    assert admin.check_password(password)


def test_ensure_admin_from_environment(monkeypatch, api_client):
    monkeypatch.setenv("ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("ADMIN_PASSWORD", "S3cure-admin-pass")
    monkeypatch.setenv("ADMIN_PHONE", "+91 98765 43210")
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert "S3cure-admin-pass" not in out.getvalue()
    admin = User.objects.get(username="admin")
    assert admin.email == "ops@example.com"
    assert admin.phone == "+919876543210"
    resp = api_client.post("/auth", {"username": "ops@example.com", "password": "S3cure-admin-pass"}, format="json")
    assert resp.status_code == 200 and resp.json()["is_admin"] is True
