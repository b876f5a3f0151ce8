"""Trash: list, restore (with name clashes and lost parents), purge, empty, retention; usage stays exact."""

from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.utils import timezone

from files.models import Blob
from files.services.blobs import blobs_collect
from files.services.nodes import trash_purge_expired
from folders.models import Node

from .helpers import download, mkdir, upload, usage

pytestmark = pytest.mark.django_db


def test_delete_then_restore_a_file(auth_client):
    file = upload(auth_client, "a.txt", b"abc")
    assert auth_client.delete(f"/api/files/{file['id']}/delete").json() == {"success": True,
                                                                          "message": "File moved to trash"}
    assert auth_client.get(f"/api/files/{file['id']}/download").status_code == 404
    assert auth_client.delete(f"/api/files/{file['id']}/delete").status_code == 404
    trash = auth_client.get("/api/trash").json()["data"]["items"]
    assert [t["id"] for t in trash] == [file["id"]]
    assert auth_client.post(f"/api/trash/{file['id']}/restore").status_code == 200
    assert download(auth_client, file["id"]) == b"abc"


def test_restore_under_a_taken_name_renames(auth_client):
    first = upload(auth_client, "same.txt", b"1")
    auth_client.delete(f"/api/files/{first['id']}/delete")
    upload(auth_client, "same.txt", b"2")
    restored = auth_client.post(f"/api/trash/{first['id']}/restore").json()["data"]
    assert restored["name"] == "same (1).txt"


def test_restore_when_the_folder_was_purged_goes_home(auth_client):
    folder = mkdir(auth_client, "F")
    file = upload(auth_client, "f.txt", b"x", folder=folder["id"])
    auth_client.delete(f"/api/files/{file['id']}/delete")
    auth_client.delete(f"/api/folders/{folder['id']}/delete")
    assert auth_client.delete(f"/api/trash/{folder['id']}").status_code == 200
    restored = auth_client.post(f"/api/trash/{file['id']}/restore").json()["data"]
    home = auth_client.get("/api/folders/root/contents").json()["data"]["items"]
    assert [h["id"] for h in home] == [file["id"]]
    assert restored["name"] == "f.txt"


def test_restoring_a_child_of_a_trashed_folder_is_404(auth_client):
    folder = mkdir(auth_client, "F")
    file = upload(auth_client, "f.txt", b"x", folder=folder["id"])
    auth_client.delete(f"/api/folders/{folder['id']}/delete")
    assert auth_client.post(f"/api/trash/{file['id']}/restore").status_code == 404


def test_delete_and_restore_do_not_change_usage(auth_client):
    """Trash counts toward the quota, so delete + restore can never push usage past it."""
    file = upload(auth_client, "a.bin", b"x" * 50)
    before = usage(auth_client)["used"]
    auth_client.delete(f"/api/files/{file['id']}/delete")
    assert usage(auth_client)["used"] == before
    auth_client.post(f"/api/trash/{file['id']}/restore")
    assert usage(auth_client)["used"] == before


def test_trash_is_still_charged_so_quota_holds(auth_client, user):
    from accounts.models import User

    User.objects.filter(pk=user.pk).update(storage_quota=100)
    file = upload(auth_client, "a.bin", b"x" * 80)
    auth_client.delete(f"/api/files/{file['id']}/delete")
    assert upload(auth_client, "b.bin", b"y" * 80, expect=413)["error"]["code"] == "STORAGE_QUOTA_EXCEEDED"


def test_purge_one_and_empty_free_bytes_and_objects(auth_client, django_capture_on_commit_callbacks):
    a = upload(auth_client, "a.bin", b"a" * 10)
    upload(auth_client, "a.bin", b"A" * 7)
    b = upload(auth_client, "b.bin", b"b" * 5)
    auth_client.delete(f"/api/files/{a['id']}/delete")
    auth_client.delete(f"/api/files/{b['id']}/delete")
    purged = auth_client.delete(f"/api/trash/{a['id']}")
    assert purged.status_code == 200 and purged.json()["data"] == {"freedBytes": 17}
    assert usage(auth_client)["used"] == 5
    emptied = auth_client.delete("/api/trash")
    assert emptied.json()["data"] == {"freedBytes": 5}
    assert usage(auth_client)["used"] == 0
    keys = list(Blob.objects.values_list("storage_key", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        assert blobs_collect() == 3
    assert Blob.objects.count() == 0
    assert not any(storages["default"].exists(key) for key in keys)


def test_shared_content_survives_purge_of_one_holder(auth_client, other_client):
    mine = upload(auth_client, "x.bin", b"shared")
    theirs = upload(other_client, "y.bin", b"shared")
    auth_client.delete(f"/api/files/{mine['id']}/delete")
    auth_client.delete("/api/trash")
    assert blobs_collect() == 0
    assert download(other_client, theirs["id"]) == b"shared"


def test_retention_purges_old_trash(auth_client):
    old = upload(auth_client, "old.txt", b"o")
    new = upload(auth_client, "new.txt", b"n")
    auth_client.delete(f"/api/files/{old['id']}/delete")
    auth_client.delete(f"/api/files/{new['id']}/delete")
    Node.objects.filter(uuid=old["id"]).update(trashed_at=timezone.now() - timedelta(days=31))
    assert trash_purge_expired() == 1
    assert [t["name"] for t in auth_client.get("/api/trash").json()["data"]["items"]] == ["new.txt"]
    assert usage(auth_client)["used"] == 1


def test_bad_trash_ids(auth_client):
    live = upload(auth_client, "live.txt", b"x")
    assert auth_client.post(f"/api/trash/{live['id']}/restore").status_code == 404
    assert auth_client.delete(f"/api/trash/{live['id']}").status_code == 404
    assert auth_client.post("/api/trash/nope/restore").status_code == 404
