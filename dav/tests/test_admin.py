"""Operators see app passwords and WebDAV locks in the admin, and revoking an app
password there stops it at once."""

import pytest
from django.test import Client as BrowserClient

from accounts import services
from accounts.models import AppPassword
from dav.models import Lock

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(db):
    admin, _, _ = services.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    client = BrowserClient()
    client.force_login(admin)
    return client


def test_an_operator_revokes_an_app_password(browser, dav, user):
    assert dav.put("/dav/a.txt", b"a").status == 201
    app_password = AppPassword.objects.get(user=user)
    listing = browser.get("/admin/accounts/apppassword/")
    assert listing.status_code == 200 and "laptop" in listing.content.decode()
    page = browser.get(f"/admin/accounts/apppassword/{app_password.pk}/change/")
    assert page.status_code == 200 and app_password.secret_hash not in page.content.decode()
    resp = browser.post(f"/admin/accounts/apppassword/{app_password.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 302
    assert dav.get("/dav/a.txt").status == 401


def test_an_operator_sees_and_removes_a_lock(browser, dav):
    dav.put("/dav/a.txt", b"a")
    lock = dav.request("LOCK", "/dav/a.txt", b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope>'
                       b'<D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
                       content_type="application/xml")
    assert lock.status == 200
    assert dav.put("/dav/a.txt", b"b").status == 423
    assert "/a.txt" in browser.get("/admin/dav/lock/").content.decode()
    row = Lock.objects.get()
    assert browser.post(f"/admin/dav/lock/{row.pk}/delete/", {"post": "yes"}).status_code == 302
    assert dav.put("/dav/a.txt", b"b").status == 204
