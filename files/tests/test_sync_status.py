"""MegaVault delta sync: `GET /api/mobile/sync/status` through HTTP —
full listings, deltas from the change journal, paging while the tree changes,
tokens that are bad or can no longer be served, and the cost of a page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from folders.models import Change

from .helpers import mkdir, sha, upload

pytestmark = pytest.mark.django_db

STATUS = "/api/mobile/sync/status"


# --- helpers shared with test_sync_changes.py ---------------------------------------------------

def status(client, token=None, expect=200, **params):
    if token:
        params["syncToken"] = token
    resp = client.get(STATUS, params)
    assert resp.status_code == expect, resp.content
    return resp.json()["data"] if expect == 200 else resp.json()


def drain(client, token=None, **params) -> tuple[list[dict], str]:
    """Every page from `token` on; returns the pages' data and the last token."""
    pages = []
    while True:
        data = status(client, token, **params)
        pages.append(data)
        token = data["nextSyncToken"]
        if not data["hasMore"]:
            return pages, token


class Replica:
    """What a phone keeps: entries by id, updated from sync answers as the docs say
    (created and updated are upserts, then deleted takes the entry and what is in it)."""

    def __init__(self):
        self.entries: dict[str, dict] = {}

    def apply(self, data: dict) -> None:
        if data["full"] and not getattr(self, "_listing", False):
            self.entries = {}
        self._listing = data["full"] and data["hasMore"]
        for item in data["changes"]["created"] + data["changes"]["updated"]:
            self.entries[item["id"]] = item
        for gone in data["changes"]["deleted"]:
            self._remove(gone["id"])

    def _remove(self, entry_id: str) -> None:
        self.entries.pop(entry_id, None)
        for child in [e["id"] for e in self.entries.values() if e["parentId"] == entry_id]:
            self._remove(child)

    def view(self) -> dict:
        return {e["id"]: (e["name"], e["folder"], e["parentId"], e["kind"], e["checksum"], e["version"])
                for e in self.entries.values()}


def server_view(client) -> dict:
    """The server's live tree, as a fresh full listing shows it."""
    replica = Replica()
    for page in drain(client)[0]:
        replica.apply(page)
    return replica.view()


# --- full listing -------------------------------------------------------------------------

def test_first_sync_is_a_full_listing_with_seed_shape(auth_client):
    docs = mkdir(auth_client, "documents")
    pdf = upload(auth_client, "document.pdf", b"%PDF-1.4 x", folder=docs["id"])
    data = status(auth_client, lastSync="2024-01-20T10:00:00Z")
    assert data["full"] is True and data["hasChanges"] is True and data["hasMore"] is False
    assert data["changes"]["updated"] == [] and data["changes"]["deleted"] == [] and data["conflicts"] == []
    assert data["nextSyncToken"] and data["lastSyncAt"]
    folder, file = data["changes"]["created"]  # parents before children
    home_id = folder["parentId"]
    assert folder == {"id": docs["id"], "name": "documents", "folder": "/", "parentId": home_id, "kind": "folder",
                      "size": 0, "modifiedAt": folder["modifiedAt"], "checksum": None, "version": None}
    assert file["id"] == pdf["id"] and file["folder"] == "/documents" and file["parentId"] == docs["id"]
    assert file["checksum"] == f"sha256:{sha(b'%PDF-1.4 x')}" and file["size"] == 10 and file["version"] == 1
    assert file["modifiedAt"]
    again = status(auth_client, data["nextSyncToken"])
    assert again["full"] is False and again["hasChanges"] is False
    assert again["changes"] == {"created": [], "updated": [], "deleted": []}


def test_full_listing_pages_cover_everything_once_and_changes_meanwhile_come_after(auth_client):
    top = mkdir(auth_client, "top")
    ids = [mkdir(auth_client, f"d{i}", parent=top["id"])["id"] for i in range(3)]
    ids += [upload(auth_client, f"f{i}.txt", b"%d" % i, folder=ids[i % 3])["id"] for i in range(6)]
    first = status(auth_client, limit=4)
    assert first["full"] and first["hasMore"] and len(first["changes"]["created"]) == 4
    # The tree changes while the listing is paged.
    late = upload(auth_client, "late.txt", b"late")
    auth_client.post(f"/api/files/{ids[3]}/rename", {"name": "renamed.txt"}, format="json")
    pages, token = drain(auth_client, first["nextSyncToken"], limit=4)
    listed = [e["id"] for p in [first, *pages] for e in p["changes"]["created"]]
    assert len(listed) == len(set(listed))
    assert set(listed) >= {top["id"], *ids}
    # Parents before children across pages.
    position = {entry_id: i for i, entry_id in enumerate(listed)}
    for page in [first, *pages]:
        for e in page["changes"]["created"]:
            if e["parentId"] and e["parentId"] in position:
                assert position[e["parentId"]] < position[e["id"]]
    replica = Replica()
    for page in [first, *pages]:
        replica.apply(page)
    for page in drain(auth_client, token)[0]:
        replica.apply(page)
    assert late["id"] in replica.entries and replica.entries[ids[3]]["name"] == "renamed.txt"
    assert replica.view() == server_view(auth_client)


# --- deltas ---------------------------------------------------------------------------------

def test_delta_folds_rows_of_one_entry(auth_client):
    keep = upload(auth_client, "keep.txt", b"1")
    gone = upload(auth_client, "gone.txt", b"2")
    token = status(auth_client)["nextSyncToken"]
    box = mkdir(auth_client, "box")
    auth_client.post(f"/api/folders/{box['id']}/rename", {"name": "crate"}, format="json")  # create + rename
    tmp = upload(auth_client, "tmp.txt", b"3")
    assert auth_client.delete(f"/api/files/{tmp['id']}/delete").status_code == 200  # create + delete
    auth_client.post(f"/api/files/{keep['id']}/rename", {"name": "kept.txt"}, format="json")
    auth_client.post(f"/api/files/{keep['id']}/move", {"folderId": box["id"]}, format="json")
    assert auth_client.delete(f"/api/files/{gone['id']}/delete").status_code == 200
    data = status(auth_client, token)
    created, updated, deleted = (data["changes"][k] for k in ("created", "updated", "deleted"))
    assert [(e["id"], e["name"], e["folder"]) for e in created] == [(box["id"], "crate", "/")]
    assert [(e["id"], e["name"], e["folder"], e["parentId"]) for e in updated] == \
        [(keep["id"], "kept.txt", "/crate", box["id"])]
    assert [(e["id"], e["kind"]) for e in deleted] == [(gone["id"], "file")]
    assert deleted[0]["deletedAt"]


def test_restored_folder_brings_back_what_was_in_it(auth_client):
    album = mkdir(auth_client, "album")
    inner = mkdir(auth_client, "inner", parent=album["id"])
    photo = upload(auth_client, "p.jpg", b"jpg", folder=inner["id"])
    assert auth_client.delete(f"/api/folders/{album['id']}/delete").status_code == 200
    token = status(auth_client)["nextSyncToken"]
    resp = auth_client.post(f"/api/trash/{album['id']}/restore")
    assert resp.status_code == 200, resp.content
    created = status(auth_client, token)["changes"]["created"]
    assert [(e["id"], e["folder"]) for e in created] == \
        [(album["id"], "/"), (inner["id"], "/album"), (photo["id"], "/album/inner")]


def test_new_content_is_an_update_with_version_and_checksum(auth_client):
    doc = upload(auth_client, "a.txt", b"one")
    token = status(auth_client)["nextSyncToken"]
    again = upload(auth_client, "a.txt", b"two")  # the same name: a new version
    assert again["id"] == doc["id"]
    updated = status(auth_client, token)["changes"]["updated"]
    assert [(e["id"], e["version"], e["checksum"], e["size"]) for e in updated] == \
        [(doc["id"], 2, f"sha256:{sha(b'two')}", 3)]


def test_paged_delta_while_the_tree_changes_misses_and_repeats_nothing(auth_client):
    """Issue 10: a delta sync paged while the tree changes → no change missed or repeated."""
    files = [upload(auth_client, f"f{i}.txt", b"v0-%d" % i)["id"] for i in range(8)]
    replica = Replica()
    pages, token = drain(auth_client)
    for page in pages:
        replica.apply(page)
    folders = [mkdir(auth_client, f"d{i}")["id"] for i in range(4)]
    for i, file_id in enumerate(files):
        auth_client.post(f"/api/files/{file_id}/rename", {"name": f"g{i}.txt"}, format="json")
    seen_after = {}  # entry id → index of the last page it appeared in
    touched_at = {}  # entry id → the number of pages read when it last changed
    page_no = 0
    steps = iter(range(100))
    while True:
        data = status(auth_client, token, limit=3)
        replica.apply(data)
        for key in ("created", "updated", "deleted"):
            for e in data["changes"][key]:
                # Not repeated: an entry comes again only if it changed again after the page it came in.
                if e["id"] in seen_after:
                    assert touched_at.get(e["id"], -1) >= seen_after[e["id"]], (e["id"], key)
                seen_after[e["id"]] = page_no
        page_no += 1
        token = data["nextSyncToken"]
        step = next(steps)
        if step < 6:  # between pages the tree keeps changing
            target = files[step]
            if step % 3 == 0:
                assert auth_client.delete(f"/api/files/{target}/delete").status_code == 200
            elif step % 3 == 1:
                auth_client.post(f"/api/files/{target}/move", {"folderId": folders[step % 4]}, format="json")
            else:
                new = upload(auth_client, f"n{step}.txt", b"new")
                touched_at[new["id"]] = page_no
            touched_at[target] = page_no
        elif not data["hasMore"]:
            break
    assert replica.view() == server_view(auth_client)


def test_other_users_changes_never_show(auth_client, other_client):
    mine = upload(auth_client, "mine.txt", b"m")
    token = status(other_client)["nextSyncToken"]
    upload(auth_client, "more.txt", b"m2")
    theirs = status(other_client, token)
    assert theirs["hasChanges"] is False
    listing = status(other_client)
    assert mine["id"] not in {e["id"] for e in listing["changes"]["created"]}


# --- bad and stale tokens ----------------------------------------------------------------------

@pytest.mark.parametrize("token", ["sync_token_xyz789", "x" * 3000, "eyJ2IjoxfQ:bad:sig", "%00"])
def test_malformed_token_is_400(auth_client, token):
    body = status(auth_client, token, expect=400)
    assert body["success"] is False and body["error"]["code"] in ("INVALID_SYNC_TOKEN", "VALIDATION_ERROR")


def test_tampered_and_foreign_tokens_are_400(auth_client, other_client):
    upload(auth_client, "a.txt", b"a")
    token = status(auth_client)["nextSyncToken"]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert status(auth_client, tampered, expect=400)["error"]["code"] == "INVALID_SYNC_TOKEN"
    assert status(other_client, token, expect=400)["error"]["code"] == "INVALID_SYNC_TOKEN"
    resp = other_client.post("/api/mobile/sync/files", {"syncToken": token, "localChanges": [
        {"action": "mkdir", "localId": "l1", "name": "x"}]}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_SYNC_TOKEN"
    assert status(other_client)["changes"]["created"] == []  # nothing was made


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
def test_bad_limit_is_400(auth_client, limit):
    assert status(auth_client, limit=limit, expect=400)["error"]["code"] == "VALIDATION_ERROR"


def test_token_past_the_journal_end_is_a_reset(auth_client, user):
    """A database restored from a backup: the token names a position the journal no longer has."""
    upload(auth_client, "a.txt", b"a")
    upload(auth_client, "b.txt", b"b")
    token = status(auth_client)["nextSyncToken"]
    last = Change.objects.filter(owner=user).order_by("-seq").first()
    Change.objects.filter(pk=last.pk).delete()  # the restore lost the last change
    body = status(auth_client, token, expect=410)
    assert body["error"]["code"] == "SYNC_RESET" and body["error"]["details"] == {"reset": True}
    # After the restore the journal grows again: the same position now names another change.
    upload(auth_client, "c.txt", b"c")
    assert status(auth_client, token, expect=410)["error"]["code"] == "SYNC_RESET"
    fresh = status(auth_client)
    assert fresh["full"] and {e["name"] for e in fresh["changes"]["created"]} == {"a.txt", "b.txt", "c.txt"}


def test_a_listing_token_whose_start_is_gone_is_a_reset(auth_client, user):
    for i in range(3):
        upload(auth_client, f"{i}.txt", b"%d" % i)
    first = status(auth_client, limit=1)
    Change.objects.filter(owner=user).delete()
    assert status(auth_client, first["nextSyncToken"], expect=410)["error"]["code"] == "SYNC_RESET"


# --- cost --------------------------------------------------------------------------------------------

def _queries(client, token, limit):
    with CaptureQueriesContext(connection) as captured:
        data = status(client, token, limit=limit)
    return len(captured), data


def test_a_page_costs_the_same_queries_whatever_its_size(auth_client):
    token = status(auth_client)["nextSyncToken"]
    parent = mkdir(auth_client, "p")
    deep = mkdir(auth_client, "q", parent=parent["id"])
    for i in range(40):
        upload(auth_client, f"{i}.txt", b"%d" % i, folder=(parent, deep)[i % 2]["id"])
    small, small_data = _queries(auth_client, token, 2)
    big, big_data = _queries(auth_client, token, 42)
    assert len(big_data["changes"]["created"]) == 42 and len(small_data["changes"]["created"]) == 2
    assert small == big <= 8
    listing, listing_data = _queries(auth_client, None, 100)
    few, _ = _queries(auth_client, None, 3)
    assert len(listing_data["changes"]["created"]) == 42 and listing == few <= 8


# --- the journal's commit order (PostgreSQL) -------------------------------------------------------

on_postgresql = pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite runs one writer at a time, so "
                                   "journal rows cannot commit out of order there; the race runs on PostgreSQL")


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_later_change_is_not_visible_before_an_earlier_uncommitted_one(user, client_for):
    """The hazard: transaction A takes journal position n and is still open; B writes
    after it and commits. A reader at n-1 must not get B's change before A's (it
    would then skip A's for good): B's change waits for A's commit."""
    import threading

    from django.db import transaction

    from folders import services as tree

    client = client_for(user)
    home = tree.home_get(user=user)
    token = status(client)["nextSyncToken"]
    a_wrote, release_a, b_done = threading.Event(), threading.Event(), threading.Event()

    def writer_a():
        try:
            with transaction.atomic():
                tree.folder_create(user=user, parent=home, name="A")
                a_wrote.set()
                release_a.wait(10)
        finally:
            connection.close()

    def writer_b():
        try:
            a_wrote.wait(10)
            tree.folder_create(user=user, parent=home, name="B")
            b_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for thread in threads:
        thread.start()
    try:
        assert a_wrote.wait(10)
        assert not b_done.wait(1.0)  # B waits for A's position to commit
        assert status(client, token)["hasChanges"] is False  # so a reader sees neither yet
    finally:
        release_a.set()
        for thread in threads:
            thread.join(20)
    data = status(client, token)
    assert [e["name"] for e in data["changes"]["created"]] == ["A", "B"]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_paging_while_many_writers_commit_misses_nothing(user, client_for):
    import threading

    client = client_for(user)
    token = status(client)["nextSyncToken"]
    seen = []

    def writer(n):
        own = client_for(user)
        try:
            for i in range(15):
                assert own.post("/api/folders/create", {"name": f"w{n}-{i}"}, format="json").status_code == 201
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    while True:
        writing = any(thread.is_alive() for thread in threads)
        data = status(client, token, limit=5)
        seen += [e["name"] for e in data["changes"]["created"]]
        token = data["nextSyncToken"]
        if not writing and not data["hasMore"]:
            break
    assert sorted(seen) == sorted(f"w{n}-{i}" for n in range(4) for i in range(15))
