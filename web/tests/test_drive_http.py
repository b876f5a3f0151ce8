"""The drive over HTTP as a browser sends it: sign-in and its cookie, CSRF, isolation
between users, and the forms' outcomes. The browser tests (test_browser.py) drive the
same pages in chromium."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as BrowserClient

from accounts import browser as browser_cookie
from accounts import services
from accounts.models import AuthSession
from accounts.tests.factories import PASSWORD
from folders.models import Node
from web.pages import CSP

pytestmark = pytest.mark.django_db
HTML = "text/html,application/xhtml+xml,*/*;q=0.8"


def csrf_of(resp) -> str:
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', resp.content).group(1).decode()


def signed_in_browser(user) -> BrowserClient:
    client = BrowserClient(enforce_csrf_checks=True, HTTP_ACCEPT=HTML)
    form = client.get("/signin")
    resp = client.post("/signin/password", {"identifier": user.username, "password": PASSWORD,
                                            "csrfmiddlewaretoken": csrf_of(form)})
    assert resp.status_code == 302, resp.content
    return client


def post(client, path, data, page="/"):
    return client.post(path, {**data, "csrfmiddlewaretoken": csrf_of(client.get(page))})


def upload(api, name="notes.txt", data=b"hello", content_type="text/plain"):
    resp = api.post("/api/files/upload", {"file": SimpleUploadedFile(name, data, content_type=content_type)},
                    format="multipart")
    assert resp.status_code == 201, resp.content
    return resp.json()["data"]


def test_drive_needs_sign_in(client):
    resp = client.get("/folders/whatever?sort=size")
    assert resp.status_code == 302
    assert resp["Location"] == "/signin?next=%2Ffolders%2Fwhatever%3Fsort%3Dsize"


def test_password_sign_in_makes_a_revocable_session_cookie(user):
    client = BrowserClient(enforce_csrf_checks=True)
    form = client.get("/signin")
    assert form["Content-Security-Policy"] == CSP
    resp = client.post("/signin/password", {"identifier": user.email, "password": PASSWORD, "next": "/trash",
                                            "csrfmiddlewaretoken": csrf_of(form)})
    assert resp.status_code == 302 and resp["Location"] == "/trash"
    cookie = resp.cookies[browser_cookie.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    session = AuthSession.objects.get(user=user)
    assert session.is_live and session.client == "browser"
    assert client.get("/").status_code == 200

    # An operator finds it in the admin as a browser session, apart from the API's, and revokes it.
    root, _, _ = services.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    operator = BrowserClient()
    operator.force_login(root)
    listed = operator.get("/admin/accounts/authsession/?client__exact=browser")
    assert listed.status_code == 200
    assert f"/admin/accounts/authsession/{session.pk}/change/" in listed.content.decode()
    assert "Web drive (browser)" in listed.content.decode()
    api_session = services._sign_in(user, client="web", ip_address=None, user_agent="api").session
    assert f"/admin/accounts/authsession/{api_session.pk}/change/" not in listed.content.decode()
    operator.post("/admin/accounts/authsession/", {"action": "revoke", "_selected_action": [session.pk]})
    session.refresh_from_db()
    assert session.revoked_at is not None and session.revoke_reason == "admin"
    assert client.get("/").status_code == 302


def test_wrong_password_says_so(user):
    client = BrowserClient(enforce_csrf_checks=True)
    resp = client.post("/signin/password", {"identifier": user.username, "password": "nope",
                                            "csrfmiddlewaretoken": csrf_of(client.get("/signin"))})
    assert resp.status_code == 401 and b'role="alert"' in resp.content
    assert browser_cookie.COOKIE not in resp.cookies


def test_sign_in_form_needs_csrf(user):
    client = BrowserClient(enforce_csrf_checks=True)
    resp = client.post("/signin/password", {"identifier": user.username, "password": PASSWORD})
    assert resp.status_code == 403


def test_next_never_leaves_the_site(user):
    client = BrowserClient(enforce_csrf_checks=True)
    resp = client.post("/signin/password", {"identifier": user.username, "password": PASSWORD,
                                            "next": "https://evil.example/", "csrfmiddlewaretoken": csrf_of(client.get("/signin"))})
    assert resp["Location"] == "/"


def test_sign_in_by_whatsapp_code(whatsapp_outbox, django_capture_on_commit_callbacks):
    client = BrowserClient(enforce_csrf_checks=True)
    with django_capture_on_commit_callbacks(execute=True):  # the message is sent once the request commits
        sent = client.post("/signin/code", {"phone": "+919812345678",
                                            "csrfmiddlewaretoken": csrf_of(client.get("/signin"))})
    assert sent.status_code == 200 and b"+919812345678" in sent.content
    code = whatsapp_outbox("+919812345678")[-1]["code"]
    wrong = client.post("/signin/verify", {"phone": "+919812345678", "code": "000000" if code != "000000" else "111111",
                                           "csrfmiddlewaretoken": csrf_of(sent)})
    assert wrong.status_code == 400 and b'role="alert"' in wrong.content
    resp = client.post("/signin/verify", {"phone": "+919812345678", "code": code,
                                          "csrfmiddlewaretoken": csrf_of(wrong)})
    assert resp.status_code == 302
    assert client.get("/").status_code == 200


def test_bad_phone_is_explained():
    client = BrowserClient(enforce_csrf_checks=True)
    resp = client.post("/signin/code", {"phone": "12", "csrfmiddlewaretoken": csrf_of(client.get("/signin"))})
    assert resp.status_code == 400 and b"international format" in resp.content


def test_sign_out_ends_the_session(user):
    client = signed_in_browser(user)
    resp = post(client, "/signout", {})
    assert resp.status_code == 302
    assert not AuthSession.objects.get(user=user).is_live
    assert client.get("/").status_code == 302


def test_second_user_reaches_nothing_of_the_first(user, other_user, auth_client):
    file = upload(auth_client, name="secret-plans.txt", data=b"top secret")
    folder = auth_client.post("/api/folders/create", {"name": "Private"}, format="json").json()["data"]
    other = signed_in_browser(other_user)
    assert b"secret-plans.txt" not in other.get("/").content
    for path in (f"/files/{file['id']}", f"/files/{file['id']}/content", f"/folders/{folder['id']}",
                 f"/files/{file['id']}/preview/thumbnail"):
        resp = other.get(path)
        assert resp.status_code == 404, path
        assert b"top secret" not in resp.content
    for path, data in ((f"/nodes/{file['id']}/rename", {"name": "mine.txt"}),
                       (f"/nodes/{file['id']}/trash", {}),
                       (f"/nodes/{file['id']}/move", {"target": "home"}),
                       (f"/files/{file['id']}/share", {})):
        assert post(other, path, data).status_code == 404, path
    assert Node.objects.get(uuid=file["id"]).name == "secret-plans.txt"
    assert Node.objects.get(uuid=file["id"]).trashed_at is None


def test_rename_conflict_is_explained_and_changes_nothing(user, auth_client):
    upload(auth_client, name="a.txt")
    b = upload(auth_client, name="b.txt")
    client = signed_in_browser(user)
    resp = post(client, f"/nodes/{b['id']}/rename", {"name": "a.txt", "back": f"/files/{b['id']}"})
    assert resp.status_code == 302
    page = client.get(resp["Location"])
    assert b"already exists" in page.content
    assert Node.objects.get(uuid=b["id"]).name == "b.txt"


def test_folder_listing_sorts_and_pages(user, auth_client):
    for name, data in (("small.txt", b"x"), ("big.txt", b"x" * 5000), ("middle.txt", b"x" * 100)):
        upload(auth_client, name=name, data=data)
    client = signed_in_browser(user)
    names = lambda resp: re.findall(rb'<tr data-name="([^"]+)"', resp.content)  # noqa: E731
    assert names(client.get("/?sort=size")) == [b"small.txt", b"middle.txt", b"big.txt"]
    assert names(client.get("/?sort=size&dir=desc")) == [b"big.txt", b"middle.txt", b"small.txt"]
    assert names(client.get("/")) == [b"big.txt", b"middle.txt", b"small.txt"]


def test_pages_put_folders_first_across_a_page_boundary(user, auth_client, monkeypatch):
    from folders import services as tree
    from web.views import drive

    monkeypatch.setattr(drive, "PAGE_SIZE", 2)
    home = tree.home_get(user=user)
    for name in ("Cats", "Apples", "Boats"):
        tree.folder_create(user=user, parent=home, name=name)
    for name in ("c.txt", "a.txt", "b.txt"):
        upload(auth_client, name=name)
    client = signed_in_browser(user)
    names = lambda path: re.findall(rb'<tr data-name="([^"]+)"', client.get(path).content)  # noqa: E731
    assert [names(f"/?page={n}") for n in (1, 2, 3)] == [
        [b"Apples", b"Boats"], [b"Cats", b"a.txt"], [b"b.txt", b"c.txt"]]
    assert [names(f"/?dir=desc&page={n}") for n in (1, 2, 3)] == [
        [b"Cats", b"Boats"], [b"Apples", b"c.txt"], [b"b.txt", b"a.txt"]]
    assert names("/?page=9") == [b"b.txt", b"c.txt"]  # past the end: the last page


def test_tus_accepts_the_cookie_only_with_csrf(user):
    client = signed_in_browser(user)
    headers = {"HTTP_TUS_RESUMABLE": "1.0.0", "HTTP_UPLOAD_LENGTH": "5", "HTTP_ACCEPT": "*/*",
               "content_type": "application/offset+octet-stream"}
    assert client.post("/api/tus/", **headers).status_code == 403  # another site could send this
    token = client.cookies["csrftoken"].value
    resp = client.post("/api/tus/", HTTP_X_CSRFTOKEN=token, **headers)
    assert resp.status_code == 201, resp.content


def test_search_and_starred(user, auth_client):
    file = upload(auth_client, name="holiday-photo.txt")
    upload(auth_client, name="taxes.txt")
    client = signed_in_browser(user)
    found = client.get("/search?q=holiday")
    assert b"holiday-photo.txt" in found.content and b"taxes.txt" not in found.content
    post(client, f"/nodes/{file['id']}/star", {"starred": "1"})
    starred = client.get("/starred")
    assert b"holiday-photo.txt" in starred.content and b"taxes.txt" not in starred.content


def test_cookie_is_secure_behind_https(user, settings):
    settings.SESSION_COOKIE_SECURE = False  # as `make run` serves plain HTTP on one machine
    client = BrowserClient()
    resp = client.post("/signin/password", {"identifier": user.username, "password": PASSWORD}, secure=True)
    assert resp.cookies[browser_cookie.COOKIE]["secure"]
    plain = BrowserClient().post("/signin/password", {"identifier": user.username, "password": PASSWORD})
    assert not plain.cookies[browser_cookie.COOKIE]["secure"]  # a plain-HTTP development server


def test_viewer_content_supports_range_and_stays_sandboxed(user, auth_client):
    file = upload(auth_client, name="clip.mp4", data=bytes(range(256)) * 40, content_type="video/mp4")
    client = signed_in_browser(user)
    resp = client.get(f"/files/{file['id']}/content", HTTP_RANGE="bytes=100-199")
    assert resp.status_code == 206
    assert b"".join(resp.streaming_content) == (bytes(range(256)) * 40)[100:200]
    assert resp["Content-Range"] == "bytes 100-199/10240"
    assert resp["Content-Disposition"].startswith("inline")
    assert resp["Content-Security-Policy"] == "sandbox; default-src 'none'"
    attachment = client.get(f"/files/{file['id']}/content?download=1")
    assert attachment["Content-Disposition"].startswith("attachment")


def test_an_html_file_is_never_a_page_of_ours(user, auth_client):
    file = upload(auth_client, name="page.html", data=b"<script>alert(1)</script>", content_type="text/html")
    resp = signed_in_browser(user).get(f"/files/{file['id']}/content")
    assert resp["Content-Type"] == "application/octet-stream"
    assert resp["Content-Disposition"].startswith("attachment")


def test_version_restore_and_trash_empty(user, auth_client):
    first = upload(auth_client, name="plan.txt", data=b"first draft")
    upload(auth_client, name="plan.txt", data=b"second draft")  # a new version of the same file
    client = signed_in_browser(user)
    page = client.get(f"/files/{first['id']}")
    assert b"2 (current)" in page.content
    resp = post(client, f"/files/{first['id']}/versions/1/restore", {}, page=f"/files/{first['id']}")
    assert resp.status_code == 302
    restored = client.get(f"/files/{first['id']}/content")
    assert b"".join(restored.streaming_content) == b"first draft"
    post(client, f"/nodes/{first['id']}/trash", {})
    assert b"plan.txt" in client.get("/trash").content
    post(client, "/trash-empty", {}, page="/trash")
    assert b"plan.txt" not in client.get("/trash").content
    assert not Node.objects.filter(uuid=first["id"]).exists()


def test_folder_ensure_for_folder_uploads(user, other_user, auth_client):
    client = signed_in_browser(user)
    token = client.cookies["csrftoken"].value
    assert client.post("/folders-ensure", {"path": "a/b"}).status_code == 403  # CSRF, as every form
    made = client.post("/folders-ensure", {"path": "trip/day 1"}, HTTP_X_CSRFTOKEN=token)
    assert made.status_code == 200
    day = Node.objects.get(uuid=made.json()["id"])
    assert (day.name, day.parent.name, day.owner) == ("day 1", "trip", user)
    again = client.post("/folders-ensure", {"path": "trip/day 1"}, HTTP_X_CSRFTOKEN=token)
    assert again.json()["id"] == made.json()["id"]  # made once, found after
    bad = client.post("/folders-ensure", {"path": "trip/../x"}, HTTP_X_CSRFTOKEN=token)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_NAME"
    theirs = auth_client.post("/api/folders/create", {"name": "Theirs"}, format="json").json()["data"]
    other = signed_in_browser(other_user)
    resp = other.post("/folders-ensure", {"parent": theirs["id"], "path": "intruder"},
                      HTTP_X_CSRFTOKEN=other.cookies["csrftoken"].value)
    assert resp.status_code == 404
    assert not Node.objects.filter(name="intruder").exists()


def test_share_form_uses_the_apis_limits(user, auth_client):
    file = upload(auth_client)
    client = signed_in_browser(user)
    page = f"/files/{file['id']}"
    resp = post(client, f"/files/{file['id']}/share", {"expires_days": "9999", "back": page}, page=page)
    assert b"Expiry: Ensure this value is less than or equal to" in client.get(resp["Location"]).content
    resp = post(client, f"/files/{file['id']}/share", {"max_downloads": "0", "back": page}, page=page)
    assert b"Download limit: Ensure this value is greater than or equal to 1." in client.get(resp["Location"]).content
    assert not auth_client.get(f"/api/files/{file['id']}/share").json()["data"]  # nothing made
    post(client, f"/files/{file['id']}/share", {"expires_days": "2", "max_downloads": "3", "password": "pw 1234"},
         page=page)
    [link] = auth_client.get(f"/api/files/{file['id']}/share").json()["data"]
    assert (link["maxDownloads"], link["hasPassword"]) == (3, True)
    assert link["expiresAt"] is not None


def test_folder_move_and_a_move_into_itself_is_explained(user, auth_client):
    outer = auth_client.post("/api/folders/create", {"name": "Outer"}, format="json").json()["data"]
    inner = auth_client.post("/api/folders/create", {"name": "Inner", "parentId": outer["id"]},
                             format="json").json()["data"]
    target = auth_client.post("/api/folders/create", {"name": "Target"}, format="json").json()["data"]
    client = signed_in_browser(user)
    page = f"/folders/{outer['id']}"
    assert b'id="move-folder"' in client.get(page).content
    resp = post(client, f"/nodes/{outer['id']}/move", {"target": inner["id"], "back": page}, page=page)
    assert resp.status_code == 302
    assert b'class="msg msg-error"' in client.get(resp["Location"]).content
    assert Node.objects.get(uuid=outer["id"]).parent.special == "home"
    post(client, f"/nodes/{outer['id']}/move", {"target": target["id"], "back": page}, page=page)
    assert Node.objects.get(uuid=outer["id"]).parent.name == "Target"


def test_turning_a_link_off_ends_its_page(user, auth_client):
    file = upload(auth_client)
    folder = auth_client.post("/api/folders/create", {"name": "Here"}, format="json").json()["data"]
    auth_client.post(f"/api/files/{file['id']}/move", {"folderId": folder["id"]}, format="json")
    link = auth_client.post(f"/api/files/{file['id']}/share", {}, format="json").json()["data"]
    client = signed_in_browser(user)
    page = client.get(f"/files/{file['id']}")
    assert link["url"].encode() in page.content
    assert f'<option value="{folder["id"]}" selected>'.encode() in page.content  # the picker starts here
    assert client.get(f"/links/{link['id']}/qr.png")["Content-Type"] == "image/png"
    resp = post(client, f"/links/{link['id']}/revoke", {}, page=f"/files/{file['id']}")
    assert resp.status_code == 302
    assert BrowserClient().get(f"/s/{link['token']}").status_code == 404
    assert link["url"].encode() not in client.get(f"/files/{file['id']}").content


@pytest.mark.parametrize("back", ["//evil.example/", "/\\evil.example/", "https://evil.example/"])
def test_forms_never_send_you_off_the_site(user, auth_client, back):
    file = upload(auth_client)
    client = signed_in_browser(user)
    resp = post(client, f"/nodes/{file['id']}/star", {"starred": "1", "back": back})
    assert resp.status_code == 302 and resp["Location"] == "/"
