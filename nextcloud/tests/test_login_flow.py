"""Login Flow v2 as the Nextcloud apps run it: start, open the login page, sign in
(the web drive's sign-in) and grant, poll (404 until granted, then the app password
exactly once), and a client signing itself out with DELETE core/apppassword."""

import pytest

from django.utils import timezone

from accounts import services as accounts
from accounts.models import AppPassword
from accounts.tests.factories import PASSWORD
from dav.tests.helpers import Dav, basic
from nextcloud.models import LoginFlow
from nextcloud.services import LOGIN_FLOW_LIFETIME
from storage_site.testing.client import Client

pytestmark = pytest.mark.django_db

AGENT = "Mozilla/5.0 (Linux) mirall/3.16.0 (Nextcloud, linux-6.1 ClientArchitecture: x86_64 OsArchitecture: x86_64)"


def _start(client):
    resp = client.post("/index.php/login/v2", HTTP_USER_AGENT=AGENT)
    assert resp.status_code == 200, resp.content
    return resp.json()


def _poll(client, flow):
    path = flow["poll"]["endpoint"].removeprefix("http://testserver")
    return client.post(path, {"token": flow["poll"]["token"]})


def _login_page(flow):
    return flow["login"].removeprefix("http://testserver")


def _browser(name, password=PASSWORD) -> Client:
    """A browser signed in to the web drive."""
    page = Client()
    signed = page.post("/signin/password", {"identifier": name, "password": password, "next": "/"})
    assert signed.status_code == 302, signed.content
    return page


def _grant(flow, user):
    assert _browser(user.username).post(_login_page(flow), {"grant": "1"}).status_code == 200


def test_the_whole_flow_gives_a_working_app_password_once(user):
    client = Client()
    flow = _start(client)
    assert flow["poll"]["endpoint"] == "http://testserver/index.php/login/v2/poll"
    assert flow["login"].startswith("http://testserver/index.php/login/v2/flow/")
    assert _poll(client, flow).status_code == 404  # nobody granted it yet

    first = Client().get(_login_page(flow))  # not signed in: the web drive's sign-in, then back here
    assert first.status_code == 302 and first["Location"].startswith("/signin?next=")
    page = _browser(user.email)
    shown = page.get(_login_page(flow))
    assert shown.status_code == 200 and b"mirall/3.16.0" in shown.content and b"Grant access" in shown.content
    assert user.username.encode() in shown.content
    assert _poll(client, flow).status_code == 404  # seen, not granted yet
    granted = page.post(_login_page(flow), {"grant": "1"})
    assert granted.status_code == 200 and b"Account connected" in granted.content

    answer = _poll(client, flow)
    assert answer.status_code == 200
    body = answer.json()
    assert body["server"] == "http://testserver" and body["loginName"] == user.username
    assert Dav(body["loginName"], body["appPassword"]).propfind("/dav/", "0").status == 207
    app_password = AppPassword.objects.get(user=user)
    assert app_password.name == AGENT[:100]
    # Exactly once: the token is spent, the page is gone.
    assert _poll(client, flow).status_code == 404
    assert page.get(_login_page(flow)).status_code == 404
    assert AppPassword.objects.count() == 1


def test_without_signing_in_nothing_is_granted(user):
    client = Client()
    flow = _start(client)
    refused = Client().post("/signin/password", {"identifier": user.username, "password": "not-it",
                                                 "next": _login_page(flow)})
    assert refused.status_code == 401
    stranger = Client().post(_login_page(flow), {"grant": "1"})
    assert stranger.status_code == 302 and stranger["Location"].startswith("/signin?")
    assert _poll(client, flow).status_code == 404 and not AppPassword.objects.exists()


def test_unknown_or_expired_tokens(user, settings):
    client, page = Client(), _browser(user.username)
    assert client.post("/index.php/login/v2/poll", {"token": "made-up"}).status_code == 404
    assert page.get("/index.php/login/v2/flow/made-up").status_code == 404
    flow = _start(client)
    LoginFlow.objects.update(created_at=timezone.now() - LOGIN_FLOW_LIFETIME)
    assert page.post(_login_page(flow), {"grant": "1"}).status_code == 404
    assert _poll(client, flow).status_code == 404 and not AppPassword.objects.exists()


def test_poll_tokens_belong_to_their_flow(user, other_user):
    """Granting one flow never lets another flow's poller collect it."""
    client = Client()
    first, second = _start(client), _start(client)
    _grant(first, user)
    assert _poll(client, second).status_code == 404
    _grant(second, other_user)
    assert _poll(client, second).json()["loginName"] == other_user.username
    assert _poll(client, first).json()["loginName"] == user.username


def test_a_client_signs_itself_out(user, other_user):
    _, mine = accounts.app_password_create(user=user, name="desktop")
    _, kept = accounts.app_password_create(user=user, name="phone")
    accounts.app_password_create(user=other_user, name="theirs")
    client = Client()
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, mine), HTTP_OCS_APIREQUEST="true")
    resp = client.delete("/ocs/v2.php/core/apppassword?format=json")
    assert resp.status_code == 200 and resp.json()["ocs"]["meta"]["statuscode"] == 200
    assert client.get("/ocs/v2.php/cloud/user?format=json").status_code == 401
    assert sorted(AppPassword.objects.values_list("name", flat=True)) == ["phone", "theirs"]
    assert Dav(user.username, kept).propfind("/dav/", "0").status == 207


def test_the_account_password_cannot_be_deleted_that_way(user):
    client = Client()
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, PASSWORD))
    resp = client.delete("/ocs/v2.php/core/apppassword?format=json")
    assert resp.status_code == 403
    assert client.get("/ocs/v2.php/cloud/user?format=json").status_code == 200


# --- the older flow: /index.php/login/flow, ending in nc://login/… -------------------------------

def test_the_older_flow_ends_in_the_clients_url_with_a_working_app_password(user):
    browser = Client()  # the client's own browser window, not signed in yet
    start = browser.get("/index.php/login/flow", HTTP_OCS_APIREQUEST="true", HTTP_USER_AGENT=AGENT)
    assert start.status_code == 302
    grant_page = start["Location"]
    assert browser.get(grant_page)["Location"].startswith("/signin?next=")  # the web drive's sign-in
    page = _browser(user.email)
    shown = page.get(grant_page)
    assert shown.status_code == 200 and b"mirall/3.16.0" in shown.content and b"Grant access" in shown.content
    assert "form-action 'self' nc:" in shown["Content-Security-Policy"]  # the form ends at nc://
    assert AppPassword.objects.filter(user=user).count() == 0  # nothing until granted
    granted = page.post(grant_page, {"grant": "1"})
    assert granted.status_code == 302
    location = granted["Location"]
    assert location.startswith(f"nc://login/server:http://testserver&user:{user.username}&password:")
    secret = location.rsplit("&password:", 1)[1]
    assert AppPassword.objects.get(user=user).name.startswith("Mozilla/5.0 (Linux) mirall/3.16.0")
    assert Dav(user.username, secret).propfind(f"/remote.php/dav/files/{user.username}/", "0").status == 207


def test_the_older_flow_starts_only_from_a_client_and_a_forged_state_is_refused(user):
    assert Client().get("/index.php/login/flow").status_code == 400  # no OCS-APIREQUEST: another site
    page = _browser(user.username)
    for state in ("", "made-up", "eyJjbGllbnQiOiJ4In0:1abc:forged"):
        assert page.post("/index.php/login/flow/grant?state=" + state, {"grant": "1"}).status_code == 404
    assert AppPassword.objects.filter(user=user).count() == 0
