import pytest
from django.test import Client as BrowserClient

from accounts import services
from accounts.models import AuthSession

from .helpers import bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(db):
    admin, _, _ = services.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    client = BrowserClient()
    client.force_login(admin)
    return client


def test_user_admin_pages_render(browser, user):
    assert browser.get("/admin/accounts/user/").status_code == 200
    page = browser.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    assert user.username in page.content.decode()
    assert browser.get("/admin/accounts/user/?q=" + user.email).status_code == 200
    assert browser.get("/admin/accounts/usergroup/add/").status_code == 200
    assert browser.get("/admin/accounts/authsession/").status_code == 200


def test_revoke_sessions_action_ends_tokens(browser, auth_client, user):
    assert auth_client.get("/api/session/check").status_code == 200
    resp = browser.post("/admin/accounts/user/", {"action": "revoke_sessions", "_selected_action": [user.pk]})
    assert resp.status_code == 302
    assert auth_client.get("/api/session/check").status_code == 401
    assert AuthSession.objects.get(user=user).revoke_reason == "admin"


def test_session_admin_revoke_action(browser, auth_client, user):
    session = AuthSession.objects.get(user=user)
    browser.post("/admin/accounts/authsession/", {"action": "revoke", "_selected_action": [session.pk]})
    assert auth_client.get("/api/session/check").status_code == 401


def test_deactivate_action_stops_the_user(browser, auth_client, user):
    browser.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [user.pk]})
    assert auth_client.get("/api/session/check").status_code in (401, 404)


def test_clients_cannot_open_the_admin(user):
    client = BrowserClient()
    client.force_login(user)
    assert client.get("/admin/accounts/user/").status_code == 302
