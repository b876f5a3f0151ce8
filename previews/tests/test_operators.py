"""What operators use: the admin analytics endpoint, the Django admin and the
`regenerate_previews` command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as BrowserClient

from accounts import services as accounts
from previews import testing as samples
from previews.models import Preview

from .helpers import info, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client_for, make_user):
    return client_for(make_user(role="admin"))


def test_analytics_for_admins_only(api_client, auth_client, admin_client):
    resp = auth_client.get("/api/admin/preview-analytics")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "INSUFFICIENT_ROLE"
    assert api_client.get("/api/admin/preview-analytics").status_code == 401
    assert admin_client.get("/api/admin/preview-analytics").status_code == 200


def test_analytics_counts(auth_client, admin_client, settings):
    settings.CELERY_BROKER_URL = ""  # the queue length then comes from the database
    upload(auth_client, "a.png", samples.png(), content_type="image/png")
    upload(auth_client, "b.jpg", samples.jpeg_rotated(), content_type="image/jpeg")
    upload(auth_client, "cut.jpg", samples.corrupt_jpeg(), content_type="image/jpeg")
    upload(auth_client, "bomb.png", samples.pixel_bomb_png(), content_type="image/png")
    upload(auth_client, "notes.txt", b"text", content_type="text/plain")
    upload(auth_client, "doc.pdf", samples.pdf(), content_type="application/pdf")
    data = admin_client.get("/api/admin/preview-analytics").json()["data"]
    assert data["total"] == 12 and data["blobs"] == 6
    assert data["byStatus"] == {"pending": 0, "processing": 0, "ready": 6, "failed": 4, "unsupported": 2}
    assert data["byType"]["thumbnail"] == {"pending": 0, "processing": 0, "ready": 3, "failed": 2, "unsupported": 1}
    assert data["byMediaKind"]["image"]["ready"] == 4 and data["byMediaKind"]["document"]["ready"] == 2
    assert data["byMediaKind"]["other"]["unsupported"] == 2
    assert data["averageTimeMs"]["all"] is not None and data["averageTimeMs"]["document"] is not None
    assert data["storedBytes"] == sum(Preview.objects.filter(status="ready").values_list("bytes", flat=True))
    reasons = sorted(failure["error"] for failure in data["recentFailures"])
    assert len(reasons) == 2 and "decompression bomb" in reasons[1] and "truncated" in reasons[0]
    assert data["queue"] == {"name": "celery", "length": 0, "source": "database", "pendingFiles": 0,
                             "processingFiles": 0}


def test_queue_length_from_the_broker(admin_client, settings, monkeypatch):
    import redis

    class FakeRedis:
        def llen(self, name):
            return 7 if name == "celery" else 0

        def close(self):
            pass

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/7"
    monkeypatch.setattr(redis.Redis, "from_url", classmethod(lambda cls, url, **kw: FakeRedis()))
    queue = admin_client.get("/api/admin/preview-analytics").json()["data"]["queue"]
    assert queue["length"] == 7 and queue["source"] == "broker"


def test_queue_length_through_a_unix_socket_broker(admin_client, settings, monkeypatch):
    """`make run`'s broker URL is kombu's `redis+socket://`; redis-py reads it as `unix://`."""
    import redis

    asked = []

    class FakeRedis:
        def llen(self, name):
            return 3

        def close(self):
            pass

    settings.CELERY_BROKER_URL = "redis+socket:///srv/stratus/run/valkey.sock?virtual_host=1"
    monkeypatch.setattr(redis.Redis, "from_url", classmethod(lambda cls, url, **kw: asked.append(url) or FakeRedis()))
    queue = admin_client.get("/api/admin/preview-analytics").json()["data"]["queue"]
    assert queue["length"] == 3 and queue["source"] == "broker"
    assert asked == ["unix:///srv/stratus/run/valkey.sock?db=1"]


@pytest.fixture
def browser(db):
    admin, _, _ = accounts.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    client = BrowserClient()
    client.force_login(admin)
    return client


def test_admin_pages_and_regenerate_action(browser, auth_client, django_capture_on_commit_callbacks):
    file = upload(auth_client, "a.png", samples.png(), content_type="image/png")
    row = Preview.objects.get(preview_type="thumbnail")
    for page in ["/admin/previews/preview/", "/admin/previews/preview/?status__exact=ready",
                 f"/admin/previews/preview/{row.pk}/change/"]:
        assert browser.get(page).status_code == 200, page
    with django_capture_on_commit_callbacks(execute=True):
        resp = browser.post("/admin/previews/preview/", {"action": "regenerate", "_selected_action": [row.pk]})
    assert resp.status_code == 302
    assert info(auth_client, file["id"])["previews"]["medium"]["attempts"] == 2


def test_regenerate_command(auth_client, other_client, other_user, django_capture_on_commit_callbacks):
    upload(auth_client, "a.png", samples.png(), content_type="image/png")
    upload(auth_client, "doc.pdf", samples.pdf(), content_type="application/pdf")
    upload(other_client, "b.jpg", samples.jpeg_rotated(), content_type="image/jpeg")
    upload(other_client, "cut.jpg", samples.corrupt_jpeg(), content_type="image/jpeg")

    def run(*args) -> str:
        out, err = StringIO(), StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("regenerate_previews", *args, stdout=out, stderr=err)
        return out.getvalue()

    def attempts() -> dict:
        return {row.blob.versions.first().node.name: row.attempts
                for row in Preview.objects.filter(preview_type="thumbnail").select_related("blob")}

    assert "Would queue the previews of 4 content(s)" in run("--all", "--dry-run")
    assert attempts() == {"a.png": 1, "doc.pdf": 1, "b.jpg": 1, "cut.jpg": 1}
    assert "Queued the previews of 2 of 2" in run("--user", other_user.username)
    assert attempts() == {"a.png": 1, "doc.pdf": 1, "b.jpg": 2, "cut.jpg": 2}
    assert "of 1 content(s)" in run("--kind", "document")
    assert "of 1 content(s)" in run("--status", "failed")
    assert attempts() == {"a.png": 1, "doc.pdf": 2, "b.jpg": 2, "cut.jpg": 3}
    run("--all")
    assert attempts() == {"a.png": 2, "doc.pdf": 3, "b.jpg": 3, "cut.jpg": 4}
    with pytest.raises(CommandError):
        call_command("regenerate_previews", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError):
        call_command("regenerate_previews", "--user", "nobody", stdout=StringIO(), stderr=StringIO())
