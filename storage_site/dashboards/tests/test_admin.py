"""The operators' admin: pages, the dashboard with its charts, and the actions."""

import re

import pytest
from django.conf import settings
from django.test import Client as BrowserClient

from accounts import services as accounts
from accounts.models import AuthSession, User
from files.models import Blob
from files.tests.helpers import upload, usage
from folders.models import Node
from storage_site.core import storage

from .helpers import png, upload_kinds

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(db):
    admin, _, _ = accounts.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    client = BrowserClient()
    client.force_login(admin)
    return client


def page(browser, url: str) -> str:
    resp = browser.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.content.decode()


def test_index_links_the_dashboard(browser):
    html = page(browser, "/admin/")
    assert 'href="/admin/dashboard/"' in html
    # Django's index breaks a row's first cell anywhere and keeps the second on one line:
    # the link's cell must not wrap (it stood one letter per line) and the description must.
    assert re.search(r"#stratus-dashboard-link th \{[^}]*white-space: nowrap", html)
    assert re.search(r"#stratus-dashboard-link td \{[^}]*white-space: normal", html)


def test_uploads_per_day_axis_labels_are_exact(browser, auth_client):
    for n in range(4):
        upload(auth_client, f"day{n}.txt", b"x" * (n + 1))
    html = page(browser, "/admin/dashboard/?days=7")
    uploads = re.findall(r"<svg class=\"stratus-chart\".*?</svg>", html, flags=re.S)[1]
    assert "Uploads (new file versions) per day" in uploads
    # The value axis: one label per grid line, top to bottom, each a whole number of uploads.
    labels = re.findall(r'<text x="\d+" y="([\d.]+)" text-anchor="end"[^>]*>([^<]*)</text>', uploads)
    assert [text for _, text in labels] == ["4", "3", "2", "1", "0"]
    # Today's bar of 4 reaches exactly the line labelled 4.
    bar = re.search(r'<rect x="[\d.]+" y="([\d.]+)"[^>]*><title>[^<]*: 4</title>', uploads)
    assert bar and float(bar[1]) == float(labels[0][0]) - 4


def test_dashboard_draws_growth_uploads_and_types(browser, auth_client, other_client):
    upload_kinds(auth_client)
    upload(other_client, "film.mp4", b"\x00\x00\x00\x18ftypmp42 not a real film", content_type="video/mp4")
    html = page(browser, "/admin/dashboard/?days=7")
    charts = re.findall(r"<svg class=\"stratus-chart\".*?</svg>", html, flags=re.S)
    assert len(charts) == 5
    growth, uploads, upload_bytes, types, type_counts = charts
    assert "Stored bytes, last 7 days" in growth and "<polyline" in growth
    assert len(re.findall(r"<rect ", uploads)) == 7  # one bar per day
    assert re.search(r">[^<]*: 5</title></rect>", uploads)  # today's five uploads
    for category in ["image", "document", "archive", "video"]:
        assert f">{category}<" in types
    assert "(40.0 %)" in type_counts  # two documents of five files
    assert "Biggest accounts" in html and "Health" in html
    assert page(browser, "/admin/dashboard/?days=nonsense").count("class=\"stratus-chart\"") == 5


def test_dashboard_escapes_what_users_named(browser, make_user, client_for):
    user = make_user(username="<script>alert(1)</script>")
    upload(client_for(user), "x.txt", b"x" * 50)
    html = page(browser, "/admin/dashboard/")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_dashboard_needs_staff(user):
    client = BrowserClient()
    client.force_login(user)
    assert client.get("/admin/dashboard/").status_code == 302
    assert BrowserClient().get("/admin/dashboard/").status_code == 302


def test_operator_pages_render_and_search(browser, auth_client, user):
    file = upload(auth_client, "report.pdf", b"%PDF-ish", content_type="application/pdf")
    blob = Blob.objects.get(versions__node__uuid=file["id"])
    pages = [
        "/admin/accounts/user/", f"/admin/accounts/user/?q={user.phone}", "/admin/accounts/user/?usage=over",
        "/admin/accounts/user/?usage=90", f"/admin/accounts/user/{user.pk}/change/",
        "/admin/accounts/authsession/?revoked_at__isnull=True", "/admin/folders/node/?q=report",
        "/admin/folders/node/?category__exact=document", "/admin/files/blob/?referenced=no",
        f"/admin/files/blob/?q={blob.sha256[:12]}", "/admin/files/fileversion/", "/admin/files/uploadsession/",
    ]
    for url in pages:
        page(browser, url)
    assert "report.pdf" in page(browser, "/admin/folders/node/?q=report")
    assert blob.storage_key in page(browser, f"/admin/files/blob/?q={blob.sha256[:12]}")


def test_usage_filter_finds_accounts_over_quota(browser, make_user):
    over = make_user(username="overquota")
    fine = make_user(username="fine")
    User.objects.filter(pk=over.pk).update(storage_used=10, storage_quota=5)
    html = page(browser, "/admin/accounts/user/?usage=over")
    assert "overquota" in html and ">fine<" not in html and fine.username not in html.split("result_list")[-1]


def test_quota_edit_in_the_admin_goes_through_the_quota_rule(browser, auth_client, user):
    change = page(browser, f"/admin/accounts/user/{user.pk}/change/")
    assert "storage_quota_override" in change
    form = _change_form(user)
    form["storage_quota_override"] = "1234"
    resp = browser.post(f"/admin/accounts/user/{user.pk}/change/", form)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    assert usage(auth_client)["quota"] == 1234
    form["storage_quota_override"] = ""
    assert browser.post(f"/admin/accounts/user/{user.pk}/change/", form).status_code == 302
    assert usage(auth_client)["quota"] == settings.DEFAULT_STORAGE_QUOTA


def test_saving_a_user_does_not_overwrite_usage_that_moved(browser, auth_client, user):
    form = _change_form(user)  # the operator opened the page before this upload
    upload(auth_client, "late.bin", b"z" * 77)
    form["full_name"] = "Renamed"
    assert browser.post(f"/admin/accounts/user/{user.pk}/change/", form).status_code == 302
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.full_name, fresh.storage_used) == ("Renamed", 77)


def _change_form(user) -> dict:
    fresh = User.objects.get(pk=user.pk)
    return {"username": fresh.username, "full_name": fresh.full_name, "email": fresh.email or "",
            "phone": fresh.phone or "", "role": fresh.role, "is_active": "on",
            "storage_quota_override": fresh.storage_quota_override or "", "device_limit": fresh.device_limit or "",
            "auth_sessions-TOTAL_FORMS": "0", "auth_sessions-INITIAL_FORMS": "0",
            "auth_sessions-MIN_NUM_FORMS": "0", "auth_sessions-MAX_NUM_FORMS": "1000"}


def test_recompute_usage_action(browser, auth_client, user):
    upload(auth_client, "a.bin", b"a" * 40)
    User.objects.filter(pk=user.pk).update(storage_used=1)
    resp = browser.post("/admin/accounts/user/", {"action": "recompute_usage", "_selected_action": [user.pk]},
                        follow=True)
    assert "1 user(s) recounted, 1 corrected." in resp.content.decode()
    assert usage(auth_client)["used"] == 40


def test_empty_trash_action(browser, auth_client, other_client, user):
    gone = upload(auth_client, "gone.bin", b"g" * 30)
    upload(auth_client, "kept.bin", b"k" * 20)
    theirs = upload(other_client, "theirs.bin", b"t" * 10)
    auth_client.delete(f"/api/files/{gone['id']}/delete")
    other_client.delete(f"/api/files/{theirs['id']}/delete")
    resp = browser.post("/admin/accounts/user/", {"action": "empty_trash", "_selected_action": [user.pk]},
                        follow=True)
    assert "30" in resp.content.decode() and "freed" in resp.content.decode()
    assert not Node.objects.filter(uuid=gone["id"]).exists()
    assert usage(auth_client)["used"] == 20 and usage(auth_client)["trash"] == 0
    assert usage(other_client)["trash"] == 10  # only the selected user's trash


def test_revoke_sessions_action_from_the_user_list(browser, auth_client, user):
    browser.post("/admin/accounts/user/", {"action": "revoke_sessions", "_selected_action": [user.pk]})
    assert auth_client.get("/api/session/check").status_code == 401
    assert AuthSession.objects.get(user=user).revoke_reason == "admin"


def test_blob_check_action_reports_a_missing_object(browser, auth_client):
    ok_file = upload(auth_client, "fine.bin", png(3), content_type="image/png")
    bad_file = upload(auth_client, "bad.bin", b"will vanish")
    fine = Blob.objects.get(versions__node__uuid=ok_file["id"])
    bad = Blob.objects.get(versions__node__uuid=bad_file["id"])
    storage.delete(bad.storage_key)
    resp = browser.post("/admin/files/blob/", {"action": "check_objects", "_selected_action": [fine.pk, bad.pk]},
                        follow=True)
    messages = re.search(r'<ul class="messagelist">(.*?)</ul>', resp.content.decode(), flags=re.S).group(1)
    assert f"Object {bad.storage_key}: missing or unreadable" in messages and fine.storage_key not in messages
    resp = browser.post("/admin/files/blob/", {"action": "check_objects", "_selected_action": [fine.pk]}, follow=True)
    assert "1 object(s) present with the right size." in resp.content.decode()
