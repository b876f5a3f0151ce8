"""Share links opened in a browser: a page, never JSON. Through HTTP as a browser sends it."""

import io
import re
from datetime import timedelta

import pytest
from django.test import Client as BrowserClient
from django.utils import timezone

from files.models import ShareLink
from files.tests import helpers
from files.tests.helpers import content, share
from web.pages import CSP

pytestmark = pytest.mark.django_db

DATA = b"quarterly numbers\n" * 100
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what a browser sends


def upload(client, name="report.txt", data=DATA, content_type="text/plain") -> dict:
    return helpers.upload(client, name, data, content_type=content_type)


@pytest.fixture
def browser():
    return BrowserClient(enforce_csrf_checks=True, HTTP_ACCEPT=HTML)


def csrf_of(resp) -> str:
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', resp.content).group(1).decode()


def download_href(resp) -> str:
    return re.search(rb'id="download" href="([^"]+)"', resp.content).group(1).decode().replace("&amp;", "&")


def test_share_url_opens_a_page_with_name_size_type_and_download(auth_client, user, browser):
    file = upload(auth_client)
    link = share(auth_client, file["id"])
    resp = browser.get(link["url"])
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/html")
    page = resp.content.decode()
    assert "report.txt" in page and "text/plain" in page and "1.8\xa0KB" in page
    assert download_href(resp) == f"/api/public/shares/{link['token']}/download"
    assert content(browser.get(download_href(resp))) == DATA
    # Nothing of the owner beyond what they shared.
    for private in (user.username, user.email, user.phone, user.full_name):
        assert private not in page


def test_share_page_headers(auth_client, browser):
    link = share(auth_client, upload(auth_client)["id"])
    resp = browser.get(link["url"])
    assert resp["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert resp["X-Content-Type-Options"] == "nosniff"
    assert resp["Referrer-Policy"] == "same-origin"
    assert "no-store" in resp["Cache-Control"]
    assert "<script>" not in resp.content.decode()


def test_a_hostile_name_is_text(auth_client, browser):
    name = "<img src=x onerror=alert(1)>.txt"
    link = share(auth_client, upload(auth_client, name=name)["id"])
    page = browser.get(link["url"]).content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in page


def test_api_clients_keep_json_and_browsers_get_the_page(auth_client, api_client):
    link = share(auth_client, upload(auth_client)["id"])
    as_program = api_client.get(f"/api/public/shares/{link['token']}")
    assert as_program.status_code == 200 and as_program.json()["data"]["downloadUrl"] == link["downloadUrl"]
    as_json = api_client.get(f"/api/public/shares/{link['token']}", HTTP_ACCEPT="application/json, text/html")
    assert as_json.status_code == 200 and as_json.json()["data"]["name"] == "report.txt"
    as_browser = api_client.get(f"/api/public/shares/{link['token']}", HTTP_ACCEPT=HTML)
    assert as_browser.status_code == 303
    assert as_browser["Location"] == f"/s/{link['token']}"


def _expire(link):
    ShareLink.objects.filter(pk=link["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))


def _use_up(link):
    ShareLink.objects.filter(pk=link["id"]).update(max_downloads=1)
    download = BrowserClient().get(link["downloadUrl"])  # the one download the link allows
    assert download.status_code == 200 and b"".join(download.streaming_content)


def _revoke(link):
    ShareLink.objects.filter(pk=link["id"]).update(revoked_at=timezone.now())


@pytest.mark.parametrize("end, status, title", [
    (_expire, 410, "This link has expired"), (_use_up, 410, "This link has expired"),
    (_revoke, 404, "Link not found")])
def test_ended_links_show_a_page(auth_client, browser, end, status, title):
    link = share(auth_client, upload(auth_client)["id"])
    end(link)
    resp = browser.get(link["url"])
    assert resp.status_code == status
    assert resp["Content-Type"].startswith("text/html")
    assert title in resp.content.decode()
    assert "report.txt" not in resp.content.decode()
    assert resp["Content-Security-Policy"] == CSP


def test_unknown_link_is_a_404_page(browser):
    resp = browser.get("/s/no-such-token")
    assert resp.status_code == 404 and b"Link not found" in resp.content


def test_password_link_asks_first_then_downloads(auth_client, browser):
    link = share(auth_client, upload(auth_client)["id"], password="open sesame")
    form = browser.get(link["url"])
    assert form.status_code == 200
    assert b'type="password"' in form.content and b'id="download"' not in form.content
    wrong = browser.post(link["url"], {"password": "guess", "csrfmiddlewaretoken": csrf_of(form)})
    assert wrong.status_code == 401 and b"Wrong password." in wrong.content
    right = browser.post(link["url"], {"password": "open sesame", "csrfmiddlewaretoken": csrf_of(wrong)})
    assert right.status_code == 302 and right["Location"] == f"/s/{link['token']}"
    cookie = right.cookies["share_grant"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == f"/s/{link['token']}"
    page = browser.get(link["url"])
    assert page.status_code == 200
    assert content(browser.get(download_href(page))) == DATA


def test_password_form_needs_the_csrf_token(auth_client, browser):
    link = share(auth_client, upload(auth_client)["id"], password="open sesame")
    assert browser.post(link["url"], {"password": "open sesame"}).status_code == 403


def test_a_grant_opens_only_its_own_link(auth_client, browser):
    file = upload(auth_client)
    first = share(auth_client, file["id"], password="first pass")
    second = share(auth_client, file["id"], password="second pass")
    form = browser.get(first["url"])
    browser.post(first["url"], {"password": "first pass", "csrfmiddlewaretoken": csrf_of(form)})
    grant = browser.cookies["share_grant"].value
    # Even sent to the other link's page, it opens nothing.
    resp = browser.get(second["url"], HTTP_COOKIE=f"share_grant={grant}")
    assert b'type="password"' in resp.content and b'id="download"' not in resp.content


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def test_image_share_shows_its_preview(auth_client, browser):
    link = share(auth_client, upload(auth_client, name="sky.png", data=_png(), content_type="image/png")["id"])
    page = browser.get(link["url"])
    assert f'src="/s/{link["token"]}/preview"'.encode() in page.content
    image = browser.get(f"/s/{link['token']}/preview")
    assert image.status_code == 200 and image["Content-Type"] in ("image/webp", "image/jpeg")
    assert image["X-Content-Type-Options"] == "nosniff"
    assert ShareLink.objects.get(pk=link["id"]).download_count == 0  # a preview is not a download


def test_preview_of_a_password_link_needs_the_password(auth_client, browser):
    link = share(auth_client, upload(auth_client, name="sky.png", data=_png(), content_type="image/png")["id"],
                 password="open sesame")
    assert browser.get(f"/s/{link['token']}/preview").status_code == 401


def test_unknown_addresses_are_a_page_for_people_and_json_for_programs(browser, api_client):
    page = browser.get("/no/such/page")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    assert page["Content-Security-Policy"] == CSP
    api = browser.get("/api/no/such/endpoint")
    assert api.status_code == 404 and api.json()["error"]["code"] == "NOT_FOUND"
    assert api_client.get("/no/such/page").json()["error"]["code"] == "NOT_FOUND"
