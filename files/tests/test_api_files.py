"""The primary file API through HTTP: upload, list, info, search, rename, move, copy, star, versions."""

import os
import time

import pytest
from django.core.files.storage import storages
from django.test.utils import CaptureQueriesContext
from django.db import connection

from accounts.models import User
from files.models import Blob
from storage_site.core import storage

from .helpers import download, mkdir, sha, upload, usage

pytestmark = pytest.mark.django_db


def test_upload_then_download_round_trip(auth_client):
    data = bytes(range(256)) * 100
    file = upload(auth_client, "photo.jpg", data, content_type="image/jpeg")
    assert file["name"] == "photo.jpg"
    assert file["type"] == "file"
    assert file["size"] == len(data)
    assert file["sha256"] == sha(data)
    assert file["mimeType"] == "image/jpeg"
    assert file["category"] == "image"
    assert file["version"] == 1
    assert file["parentId"] is not None
    assert download(auth_client, file["id"]) == data


def test_upload_answer_shape(auth_client):
    resp = auth_client.post("/api/files/upload", {"file": _file("a.txt", b"abc")}, format="multipart")
    assert resp.status_code == 201
    body = resp.json()
    assert body["success"] is True and body["message"] == "File uploaded"
    assert set(body["data"]) == {"id", "name", "type", "parentId", "size", "mimeType", "category", "version",
                                 "sha256", "isStarred", "createdAt", "updatedAt"}


def _file(name, data, content_type="application/octet-stream"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def test_upload_into_folder(auth_client):
    folder = mkdir(auth_client, "Docs")
    file = upload(auth_client, "a.pdf", b"%PDF-1.4", folder=folder["id"])
    assert file["parentId"] == folder["id"]
    assert file["category"] == "document"


def test_same_name_upload_makes_a_new_version(auth_client):
    first = upload(auth_client, "notes.txt", b"one")
    second = upload(auth_client, "notes.txt", b"two!")
    assert second["id"] == first["id"]
    assert second["version"] == 2
    assert download(auth_client, first["id"]) == b"two!"
    versions = auth_client.get(f"/api/files/{first['id']}/versions").json()["data"]
    assert [(v["number"], v["size"], v["isCurrent"]) for v in versions] == [(2, 4, True), (1, 3, False)]
    assert usage(auth_client)["used"] == 7


def test_same_name_upload_can_rename_or_refuse(auth_client):
    upload(auth_client, "report.pdf", b"a")
    renamed = upload(auth_client, "report.pdf", b"b", onConflict="rename")
    assert renamed["name"] == "report (1).pdf"
    again = upload(auth_client, "report.pdf", b"c", onConflict="rename")
    assert again["name"] == "report (2).pdf"
    refused = upload(auth_client, "report.pdf", b"d", onConflict="error", expect=409)
    assert refused["error"]["code"] == "NAME_CONFLICT"


def test_upload_onto_a_folder_name_conflicts(auth_client):
    mkdir(auth_client, "Photos")
    assert upload(auth_client, "Photos", b"x", expect=409)["error"]["code"] == "NAME_CONFLICT"


def test_identical_content_is_stored_once(auth_client, other_client):
    data = b"same bytes" * 1000
    upload(auth_client, "a.bin", data)
    upload(auth_client, "b.bin", data)
    upload(other_client, "c.bin", data)
    blob = Blob.objects.get(sha256=sha(data))
    assert blob.ref_count == 3
    assert Blob.objects.count() == 1


def _blob_objects() -> list[str]:
    store = storages["default"]
    dirs, _ = store.listdir("blobs")
    return [f"blobs/{d}/{name}" for d in dirs for name in store.listdir(f"blobs/{d}")[1]]


def test_a_large_duplicate_is_dropped_after_the_answer(auth_client, monkeypatch):
    """Content stored before: the upload's own copy goes, for a large one on a thread of
    its own (the answer does not wait for it), and the file reads the stored content."""
    monkeypatch.setattr(storage, "DELETE_APART_MIN", 1)
    data, before = os.urandom(10_000), set(_blob_objects())  # the session's storage keeps other tests' objects
    first = upload(auth_client, "a.bin", data)
    second = upload(auth_client, "b.bin", data)
    deadline = time.monotonic() + 10
    while len(set(_blob_objects()) - before) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(_blob_objects()) - before == {Blob.objects.get(sha256=sha(data)).storage_key}
    assert download(auth_client, first["id"]) == download(auth_client, second["id"]) == data


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "a\\b", "..", ".", "bad\x00name", "tab\tname",
                                  "é" * 200, ""])
def test_bad_names_are_refused(auth_client, name):
    resp = auth_client.post("/api/files/upload", {"file": _file("x.bin", b"x"), "name": name}, format="multipart")
    if name == "":
        # An empty `name` falls back to the uploaded file's own name.
        assert resp.status_code == 201
        return
    assert resp.status_code == 400
    # A NUL is refused at the edge in every input (docs/input.md), before the name rule.
    assert resp.json()["error"]["code"] == ("INVALID_CHARACTERS" if "\x00" in name else "INVALID_NAME")
    assert usage(auth_client)["used"] == 0
    assert Blob.objects.count() == 0


def test_names_are_nfc_normalised(auth_client):
    decomposed = "Cafe\u0301.txt"
    file = upload(auth_client, decomposed, b"x")
    assert file["name"] == "Caf\u00e9.txt"


def test_missing_file_field_is_400(auth_client):
    resp = auth_client.post("/api/files/upload", {"folderId": "root"}, format="multipart")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"


def test_empty_file_is_allowed(auth_client):
    file = upload(auth_client, "empty.txt", b"")
    assert file["size"] == 0
    assert download(auth_client, file["id"]) == b""


def test_upload_over_the_size_limit_points_to_chunked_upload(auth_client, settings):
    settings.UPLOAD_MAX_SIZE = 1000
    body = upload(auth_client, "big.bin", b"x" * 2000, expect=413)
    assert body["error"]["code"] == "FILE_TOO_LARGE"
    assert "chunk" in body["error"]["message"]
    assert usage(auth_client)["used"] == 0


def test_upload_over_quota_is_413_and_stores_nothing(auth_client, user):
    User.objects.filter(pk=user.pk).update(storage_quota=100)
    upload(auth_client, "fits.bin", b"x" * 60)
    body = upload(auth_client, "too-much.bin", b"y" * 60, expect=413)
    assert body == {"success": False, "error": {"code": "STORAGE_QUOTA_EXCEEDED", "message": "Storage quota exceeded."}}
    stats = usage(auth_client)
    assert stats["used"] == 60 and stats["reserved"] == 0
    assert Blob.objects.count() == 1


def test_upload_into_unknown_or_foreign_folder_is_404(auth_client, other_client):
    foreign = mkdir(other_client, "theirs")
    for folder_id in [foreign["id"], "00000000-0000-0000-0000-000000000000", "not-a-uuid"]:
        body = upload(auth_client, "a.txt", b"x", folder=folder_id, expect=404)
        assert body["error"]["code"] == "NOT_FOUND"
    assert usage(auth_client)["used"] == 0


def test_list_is_paginated_and_filterable(auth_client):
    folder = mkdir(auth_client, "Pics")
    for n in range(5):
        upload(auth_client, f"img{n}.png", b"p" * (n + 1), folder=folder["id"], content_type="image/png")
    upload(auth_client, "song.mp3", b"m", content_type="audio/mpeg")
    resp = auth_client.get("/api/files/list", {"pageSize": 2})
    body = resp.json()
    assert body["success"] is True
    assert body["data"]["pagination"] == {"page": 1, "pageSize": 2, "total": 6, "totalPages": 3, "hasNext": True}
    assert len(body["data"]["items"]) == 2

    in_folder = auth_client.get("/api/files/list", {"folderId": folder["id"], "pageSize": 100}).json()["data"]
    assert {f["name"] for f in in_folder["items"]} == {f"img{n}.png" for n in range(5)}
    audio = auth_client.get("/api/files/list", {"type": "audio"}).json()["data"]["items"]
    assert [f["name"] for f in audio] == ["song.mp3"]
    biggest = auth_client.get("/api/files/list", {"ordering": "-size"}).json()["data"]["items"][0]
    assert biggest["name"] == "img4.png"
    root = auth_client.get("/api/files/list", {"folderId": "root"}).json()["data"]["items"]
    assert [f["name"] for f in root] == ["song.mp3"]


def test_list_bad_filters_are_400(auth_client):
    assert auth_client.get("/api/files/list", {"type": "spaceship"}).status_code == 400
    assert auth_client.get("/api/files/list", {"createdAfter": "yesterday"}).status_code == 400
    assert auth_client.get("/api/files/list", {"page": 99}).status_code == 404


def test_list_query_count_does_not_grow_with_page_size(auth_client):
    for n in range(30):
        upload(auth_client, f"f{n}.txt", b"x")
    counts = []
    for size in (5, 30):
        with CaptureQueriesContext(connection) as queries:
            assert auth_client.get("/api/files/list", {"pageSize": size}).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_list_query_count_is_the_same_for_any_page_and_filter(auth_client):
    folder = mkdir(auth_client, "Many")
    for n in range(12):
        upload(auth_client, f"f{n:02}.txt", b"x" * (n % 3), folder=folder["id"])
    counts = set()
    for params in ({"pageSize": 1}, {"pageSize": 5, "page": 3}, {"pageSize": 1000}, {"pageSize": 1, "page": 12},
                   {"ordering": "-size"}, {"starred": "false", "pageSize": 2},
                   {"type": "document", "pageSize": 5, "page": 2}):
        with CaptureQueriesContext(connection) as queries:
            resp = auth_client.get("/api/files/list", {"folderId": folder["id"], **params})
        assert resp.status_code == 200, (params, resp.content)
        counts.add(len(queries))
    # Session, folder, count, the page (its keys picked in a subquery, then its rows).
    assert counts == {4}


def test_list_pages_of_ties_neither_repeat_nor_skip(auth_client):
    """Three sizes among 12 files: an order by size alone leaves ties, broken by id."""
    folder = mkdir(auth_client, "Ties")
    for n in range(12):
        upload(auth_client, f"t{n:02}.txt", b"x" * (n % 3), folder=folder["id"])
    for ordering in ("size", "-size", "createdAt", "-updatedAt"):
        seen = []
        for page in (1, 2, 3, 4):
            body = auth_client.get("/api/files/list", {"folderId": folder["id"], "ordering": ordering,
                                                       "pageSize": 3, "page": page}).json()["data"]
            seen += [(f["size"], f["name"]) for f in body["items"]]
        assert sorted(name for _, name in seen) == [f"t{n:02}.txt" for n in range(12)], ordering
        sizes = [size for size, _ in seen]
        if "size" in ordering:
            assert sizes == sorted(sizes, reverse=ordering.startswith("-"))


def test_list_items_show_the_same_fields_as_info(auth_client):
    folder = mkdir(auth_client, "Shown")
    file = upload(auth_client, "shown.txt", b"abc", folder=folder["id"])
    auth_client.post(f"/api/files/{file['id']}/star", {}, format="json")
    listed = auth_client.get("/api/files/list", {"folderId": folder["id"]}).json()["data"]["items"]
    info = auth_client.get(f"/api/files/{file['id']}/info").json()["data"]
    assert listed == [{key: info[key] for key in listed[0]}]
    assert listed[0]["isStarred"] is True and listed[0]["parentId"] == folder["id"]


def test_star_and_filter_starred(auth_client):
    file = upload(auth_client, "fav.txt", b"x")
    upload(auth_client, "plain.txt", b"y")
    starred = auth_client.post(f"/api/files/{file['id']}/star", {}, format="json").json()["data"]
    assert starred["isStarred"] is True
    items = auth_client.get("/api/files/list", {"starred": "true"}).json()["data"]["items"]
    assert [f["name"] for f in items] == ["fav.txt"]
    items = auth_client.get("/api/files/list", {"starred": "false"}).json()["data"]["items"]
    assert [f["name"] for f in items] == ["plain.txt"]
    unstarred = auth_client.post(f"/api/files/{file['id']}/star", {"starred": False}, format="json").json()["data"]
    assert unstarred["isStarred"] is False


def test_info_shows_path_and_counts(auth_client):
    outer = mkdir(auth_client, "A")
    inner = mkdir(auth_client, "B", parent=outer["id"])
    file = upload(auth_client, "deep.txt", b"1", folder=inner["id"])
    upload(auth_client, "deep.txt", b"22", folder=inner["id"])
    info = auth_client.get(f"/api/files/{file['id']}/info").json()["data"]
    assert [p["name"] for p in info["path"]] == ["Home", "A", "B"]
    assert info["versionCount"] == 2
    assert info["size"] == 2


def test_search_finds_files_and_folders_by_name(auth_client):
    mkdir(auth_client, "Holiday 2024")
    upload(auth_client, "holiday-beach.jpg", b"x", content_type="image/jpeg")
    upload(auth_client, "taxes.pdf", b"y")
    found = auth_client.get("/api/search", {"q": "HOLIDAY"}).json()["data"]["items"]
    assert sorted(i["name"] for i in found) == ["Holiday 2024", "holiday-beach.jpg"]
    images = auth_client.get("/api/search", {"q": "holiday", "type": "image"}).json()["data"]["items"]
    assert [i["name"] for i in images] == ["holiday-beach.jpg"]
    folders = auth_client.get("/api/search", {"q": "holiday", "type": "folder"}).json()["data"]["items"]
    assert [i["name"] for i in folders] == ["Holiday 2024"]


def test_search_needs_a_term(auth_client):
    resp = auth_client.get("/api/search")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "VALIDATION_ERROR"
    assert auth_client.get("/api/search", {"q": "x", "type": "nope"}).status_code == 400


def test_search_skips_trashed_items(auth_client):
    file = upload(auth_client, "secret-plan.txt", b"x")
    auth_client.delete(f"/api/files/{file['id']}/delete")
    assert auth_client.get("/api/search", {"q": "secret"}).json()["data"]["items"] == []


def test_rename(auth_client):
    file = upload(auth_client, "old.txt", b"x")
    upload(auth_client, "taken.txt", b"y")
    renamed = auth_client.post(f"/api/files/{file['id']}/rename", {"name": "new.txt"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["data"]["name"] == "new.txt"
    clash = auth_client.post(f"/api/files/{file['id']}/rename", {"name": "taken.txt"}, format="json")
    assert clash.status_code == 409
    bad = auth_client.post(f"/api/files/{file['id']}/rename", {"name": "../x"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_NAME"
    auto = auth_client.post(f"/api/files/{file['id']}/rename", {"name": "taken.txt", "onConflict": "rename"},
                            format="json")
    assert auto.json()["data"]["name"] == "taken (1).txt"


def test_move_and_copy(auth_client):
    folder = mkdir(auth_client, "Target")
    file = upload(auth_client, "doc.txt", b"content")
    moved = auth_client.post(f"/api/files/{file['id']}/move", {"folderId": folder["id"]}, format="json")
    assert moved.status_code == 200 and moved.json()["data"]["parentId"] == folder["id"]
    copied = auth_client.post(f"/api/files/{file['id']}/copy", {"folderId": "root"}, format="json")
    assert copied.status_code == 201
    copy = copied.json()["data"]
    assert copy["id"] != file["id"] and copy["name"] == "doc.txt" and copy["parentId"] != folder["id"]
    assert download(auth_client, copy["id"]) == b"content"
    assert usage(auth_client)["used"] == 14  # a copy counts toward the quota
    assert Blob.objects.get().ref_count == 2  # but the bytes are stored once
    clash = auth_client.post(f"/api/files/{file['id']}/copy", {"folderId": "root"}, format="json")
    assert clash.status_code == 409


def test_copy_over_quota_is_refused(auth_client, user):
    file = upload(auth_client, "a.bin", b"x" * 60)
    User.objects.filter(pk=user.pk).update(storage_quota=100)
    resp = auth_client.post(f"/api/files/{file['id']}/copy", {"folderId": "root", "name": "b.bin"}, format="json")
    assert resp.status_code == 413
    assert usage(auth_client)["used"] == 60 and usage(auth_client)["reserved"] == 0


def test_version_restore_makes_a_new_version(auth_client):
    file = upload(auth_client, "v.txt", b"first")
    upload(auth_client, "v.txt", b"second")
    restored = auth_client.post(f"/api/files/{file['id']}/versions/1/restore")
    assert restored.status_code == 200
    assert restored.json()["data"]["version"] == 3
    assert download(auth_client, file["id"]) == b"first"
    old = auth_client.get(f"/api/files/{file['id']}/versions/2/download")
    assert b"".join(old.streaming_content) == b"second"
    assert auth_client.get(f"/api/files/{file['id']}/versions/9/download").status_code == 404
    assert auth_client.get(f"/api/files/{file['id']}/versions/x/download").status_code == 404


def test_versions_are_pruned_by_the_retention_rule(auth_client, settings):
    from files.services.versions import versions_prune

    settings.VERSION_KEEP_MAX = 2
    file = upload(auth_client, "p.txt", b"1")
    for content in (b"22", b"333", b"4444"):
        upload(auth_client, "p.txt", content)
    assert usage(auth_client)["used"] == 10
    versions_prune()
    numbers = [v["number"] for v in auth_client.get(f"/api/files/{file['id']}/versions").json()["data"]]
    assert numbers == [4, 3]
    assert usage(auth_client)["used"] == 7
    assert download(auth_client, file["id"]) == b"4444"


def test_usage_splits_live_versions_and_trash(auth_client):
    upload(auth_client, "a.txt", b"aaaa")
    upload(auth_client, "a.txt", b"aa")
    gone = upload(auth_client, "b.txt", b"bbb")
    auth_client.delete(f"/api/files/{gone['id']}/delete")
    stats = usage(auth_client)
    assert (stats["live"], stats["versions"], stats["trash"]) == (2, 4, 3)
    assert stats["used"] == 9
    assert stats["fileCount"] == 1


def test_multipart_sized_upload_round_trips(auth_client):
    """Bigger than one S3 part (8 MiB): the writer's multipart path, hashed across parts."""
    data = bytes(range(251)) * (17 * 1024 * 1024 // 251 + 7)
    file = upload(auth_client, "big.bin", data)
    assert file["size"] == len(data) and file["sha256"] == sha(data)
    assert sha(download(auth_client, file["id"])) == sha(data)


def test_search_total_is_capped_for_common_terms(auth_client, monkeypatch):
    from files.selectors import NameSearch

    monkeypatch.setattr(NameSearch, "CAP", 3)
    for n in range(5):
        upload(auth_client, f"match-{n}.txt", b"x")
    page = auth_client.get("/api/search", {"q": "match", "pageSize": 2}).json()["data"]
    assert page["pagination"]["total"] == 3 and page["pagination"]["totalCapped"] is True
    assert [i["name"] for i in page["items"]] == ["match-0.txt", "match-1.txt"]
    few = auth_client.get("/api/search", {"q": "match-4"}).json()["data"]["pagination"]
    assert few["total"] == 1 and few["totalCapped"] is False


def test_time_filters_take_any_iso_offset(auth_client):
    """Python accepts offsets PostgreSQL refuses; the filter works in UTC."""
    upload(auth_client, "old.txt", b"x")
    resp = auth_client.get("/api/files/list", {"createdAfter": "1523-05-26T11:15:00+18:18"})
    assert resp.status_code == 200, resp.content
    assert [f["name"] for f in resp.json()["data"]["items"]] == ["old.txt"]
