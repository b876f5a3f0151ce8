import pytest
from django.test import Client as BrowserClient

from accounts import services as accounts
from files.models import ShareLink

from .helpers import mkdir, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(db):
    admin, _, _ = accounts.admin_ensure(email="root@example.com", password="Adm1n-passw0rd!", phone=None)
    client = BrowserClient()
    client.force_login(admin)
    return client


def test_operator_pages_render(browser, auth_client):
    mkdir(auth_client, "Docs")
    file = upload(auth_client, "a.txt", b"abc")
    auth_client.post(f"/api/files/{file['id']}/share", {}, format="json")
    for page in ["/admin/folders/node/", "/admin/folders/node/?q=a.txt", "/admin/folders/change/",
                 "/admin/files/blob/", "/admin/files/fileversion/", "/admin/files/sharelink/",
                 "/admin/files/sharedcopy/"]:
        assert browser.get(page).status_code == 200, page


def test_revoke_link_from_admin(browser, auth_client, api_client):
    file = upload(auth_client, "a.txt", b"abc")
    link = auth_client.post(f"/api/files/{file['id']}/share", {}, format="json").json()["data"]
    browser.post("/admin/files/sharelink/", {"action": "revoke", "_selected_action": [link["id"]]})
    assert ShareLink.objects.get(pk=link["id"]).revoked_at is not None
    assert api_client.get(f"/api/public/shares/{link['token']}").status_code == 404


def test_operator_cancels_an_upload_and_its_quota_returns(browser, auth_client):
    from files.models import UploadSession

    started = auth_client.post("/storage/api/v3/chunk_init/", {"file_name": "v.mp4", "total_chunks": 2,
                                                               "file_size": 1000}, format="json").json()
    session = UploadSession.objects.get(uuid=started["upload_id"])
    assert auth_client.get("/api/user/storage-stats").json()["data"]["reserved"] == 1000
    for page in ["/admin/files/uploadsession/", f"/admin/files/uploadsession/{session.pk}/change/",
                 "/admin/files/uploadbatch/"]:
        assert browser.get(page).status_code == 200, page
    browser.post("/admin/files/uploadsession/", {"action": "cancel", "_selected_action": [session.pk]})
    session.refresh_from_db()
    assert (session.status, session.error_code) == ("failed", "CANCELLED")
    assert auth_client.get("/api/user/storage-stats").json()["data"]["reserved"] == 0
