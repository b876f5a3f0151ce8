"""MegaVault offline work through HTTP: local changes (`sync/files`),
conflicts and their resolution, the offline queue, and two phones of one user."""

import pytest
from django.db import connection

from accounts.models import AuthSession

from .helpers import download, sha, upload
from .test_sync_status import Replica, drain, server_view, status

pytestmark = pytest.mark.django_db

SYNC_FILES = "/api/mobile/sync/files"
RESOLVE = "/api/mobile/conflicts/resolve"
QUEUE = "/api/mobile/queue/add"


def phone(client_for, user, device_id):
    client = client_for(user)
    AuthSession.objects.filter(pk=client.sign_in.session.pk).update(device_id=device_id)
    return client


@pytest.fixture
def phones(client_for, user):
    return phone(client_for, user, "phone-a"), phone(client_for, user, "phone-b")


def push(client, changes, token=None, expect=200):
    body = {"localChanges": changes}
    if token:
        body["syncToken"] = token
    resp = client.post(SYNC_FILES, body, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"]["results"] if expect == 200 else resp.json()


def send(client, instruction, data: bytes) -> dict:
    """Send the bytes an `upload` result asks for, through the MegaVault chunk door."""
    assert instruction["totalChunks"] == len(instruction["chunks"])
    for chunk in instruction["chunks"]:
        resp = client.put(chunk["uploadUrl"], data[chunk["start"]:chunk["end"] + 1],
                          content_type="application/octet-stream")
        assert resp.status_code == 200, resp.content
    resp = client.post(instruction["completeUrl"], {"uploadId": instruction["uploadId"],
                                                    "checksum": f"sha256:{sha(data)}"}, format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()["data"]["file"]


def new_file(local_id, name, data, folder="/", **extra):
    return {"action": "upload", "localId": local_id, "name": name, "folder": folder, "size": len(data),
            "checksum": f"sha256:{sha(data)}", "lastModified": "2024-01-20T14:00:00Z", **extra}


def edit(local_id, file_id, data, **base):
    return {"action": "update", "localId": local_id, "fileId": file_id, "size": len(data),
            "checksum": f"sha256:{sha(data)}", **base}


def versions(client, file_id) -> list[tuple[int, str]]:
    resp = client.get(f"/api/files/{file_id}/versions")
    assert resp.status_code == 200, resp.content
    return sorted((v["number"], v["sha256"]) for v in resp.json()["data"])


def resolve(client, items, expect=200):
    resp = client.post(RESOLVE, {"conflicts": items}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"]["results"] if expect == 200 else resp.json()


def queue(client, operations, expect=200):
    resp = client.post(QUEUE, {"operations": operations}, format="json")
    assert resp.status_code == expect, resp.content
    return resp.json()["data"]["results"] if expect == 200 else resp.json()


# --- sync/files ---------------------------------------------------------------------------

def test_upload_instruction_then_bytes_make_the_file(auth_client):
    token = status(auth_client)["nextSyncToken"]
    data = b"photo bytes" * 100
    result = push(auth_client, [new_file("local_file_123", "photo.jpg", data, folder="/photos")], token)
    item = result["local_file_123"]
    assert item["status"] == "upload" and item["action"] == "upload"
    up = item["upload"]
    assert up["localId"] == "local_file_123" and up["totalChunks"] == 1 and up["method"] == "PUT"
    assert "/api/mobile/upload/chunk" in up["chunks"][0]["uploadUrl"]
    file = send(auth_client, up, data)
    assert file["name"] == "photo.jpg" and file["sha256"] == sha(data)
    assert download(auth_client, file["id"]) == data
    # The same change again: the content is there now.
    again = push(auth_client, [new_file("local_file_123", "photo.jpg", data, folder="/photos")], token)
    assert again["local_file_123"]["status"] == "exists"
    assert again["local_file_123"]["file"]["id"] == file["id"]
    assert again["local_file_123"]["file"]["folder"] == "/photos"


def test_retried_upload_change_answers_the_same_upload(auth_client):
    change = new_file("l1", "a.bin", b"abc")
    first = push(auth_client, [change])["l1"]["upload"]["uploadId"]
    assert push(auth_client, [change])["l1"]["upload"]["uploadId"] == first


def test_metadata_changes_apply_and_errors_stay_per_change(auth_client):
    doc = upload(auth_client, "doc.txt", b"d")
    other = upload(auth_client, "other.txt", b"o")
    token = status(auth_client)["nextSyncToken"]
    results = push(auth_client, [
        {"action": "mkdir", "localId": "m1", "name": "archive", "folder": "/2024"},
        {"action": "rename", "localId": "r1", "fileId": doc["id"], "name": "notes.txt"},
        {"action": "move", "localId": "v1", "fileId": doc["id"], "folder": "/2024/archive"},
        {"action": "rename", "localId": "bad-name", "fileId": other["id"], "name": "../x"},
        {"action": "rename", "localId": "clash", "fileId": other["id"], "name": "2024"},
        {"action": "delete", "localId": "d1", "fileId": other["id"]},
        {"action": "delete", "localId": "d2", "fileId": other["id"]},
        {"action": "teleport", "localId": "t1"},
        {"action": "upload", "localId": "u1", "name": "x.bin", "size": 1},
        {"action": "mkdir", "localId": "m2", "name": "archive", "folder": "/2024"},
    ], token)
    assert list(results) == ["m1", "r1", "v1", "bad-name", "clash", "d1", "d2", "t1", "u1", "m2"]
    status_of = {key: value["status"] for key, value in results.items()}
    assert status_of == {"m1": "applied", "r1": "applied", "v1": "applied", "bad-name": "error", "clash": "error",
                         "d1": "applied", "d2": "exists", "t1": "error", "u1": "error", "m2": "exists"}
    assert results["bad-name"]["error"]["code"] == "INVALID_NAME"
    assert results["clash"]["error"]["code"] == "NAME_CONFLICT"
    assert results["t1"]["error"]["code"] == "VALIDATION_ERROR"
    assert results["u1"]["error"]["code"] == "VALIDATION_ERROR"
    assert results["v1"]["file"]["folder"] == "/2024/archive" and results["v1"]["file"]["name"] == "notes.txt"
    info = auth_client.get(f"/api/files/{doc['id']}/info").json()["data"]
    assert info["name"] == "notes.txt"
    assert auth_client.get(f"/api/files/{other['id']}/info").status_code == 404  # in the trash


def test_duplicate_local_ids_and_bad_envelopes_are_400(auth_client):
    change = {"action": "mkdir", "localId": "same", "name": "x"}
    assert push(auth_client, [change, change], expect=400)["error"]["code"] == "VALIDATION_ERROR"
    assert push(auth_client, [], expect=400)["error"]["code"] == "VALIDATION_ERROR"
    resp = auth_client.post(SYNC_FILES, {"localChanges": "nope"}, format="json")
    assert resp.status_code == 400
    assert status(auth_client)["changes"]["created"] == []


def test_another_users_entries_are_not_found(auth_client, other_client):
    theirs = upload(other_client, "secret.txt", b"s")
    results = push(auth_client, [
        {"action": "delete", "localId": "d", "fileId": theirs["id"]},
        {"action": "rename", "localId": "r", "fileId": theirs["id"], "name": "mine.txt"},
        edit("u", theirs["id"], b"overwrite", baseVersion=1),
        {"action": "move", "localId": "m", "fileId": theirs["id"], "folderId": theirs["id"]},
    ])
    assert {key: value["error"]["code"] for key, value in results.items()} == \
        {"d": "NOT_FOUND", "r": "NOT_FOUND", "u": "NOT_FOUND", "m": "NOT_FOUND"}
    info = other_client.get(f"/api/files/{theirs['id']}/info").json()["data"]
    assert info["name"] == "secret.txt" and info["version"] == 1


def test_update_from_a_stale_base_is_a_conflict_and_nothing_changes(auth_client):
    doc = upload(auth_client, "a.txt", b"v1")
    token = status(auth_client)["nextSyncToken"]
    upload(auth_client, "a.txt", b"v2 from the web")  # the server moves on
    result = push(auth_client, [edit("e1", doc["id"], b"v2 from the phone")], token)["e1"]
    assert result["status"] == "conflict"
    conflict = result["conflict"]
    assert conflict["reason"] == "modified" and conflict["fileId"] == doc["id"] and conflict["status"] == "open"
    assert conflict["server"] == {"version": 2, "checksum": f"sha256:{sha(b'v2 from the web')}", "name": "a.txt"}
    assert conflict["local"]["checksum"] == f"sha256:{sha(b'v2 from the phone')}"
    # The same push again meets the same conflict; sync/status lists it.
    again = push(auth_client, [edit("e1", doc["id"], b"v2 from the phone")], token)["e1"]
    assert again["conflict"]["conflictId"] == conflict["conflictId"]
    assert [c["conflictId"] for c in status(auth_client)["conflicts"]] == [conflict["conflictId"]]
    assert len(versions(auth_client, doc["id"])) == 2
    # baseVersion is a base too.
    stale = push(auth_client, [edit("e2", doc["id"], b"other", baseVersion=1)])["e2"]
    assert stale["status"] == "conflict"
    fresh = push(auth_client, [edit("e3", doc["id"], b"other", baseVersion=2)])["e3"]
    assert fresh["status"] == "upload"


def test_update_without_any_base_is_refused(auth_client):
    doc = upload(auth_client, "a.txt", b"v1")
    result = push(auth_client, [edit("e", doc["id"], b"v2")])["e"]
    assert result["status"] == "error" and result["error"]["code"] == "VALIDATION_ERROR"


def test_rename_after_a_server_rename_is_a_conflict(auth_client):
    doc = upload(auth_client, "a.txt", b"a")
    token = status(auth_client)["nextSyncToken"]
    auth_client.post(f"/api/files/{doc['id']}/rename", {"name": "server.txt"}, format="json")
    result = push(auth_client, [{"action": "rename", "localId": "r", "fileId": doc["id"], "name": "phone.txt"}],
                  token)["r"]
    assert result["status"] == "conflict"
    # keep_both: the server's entry stays, a copy takes the phone's name.
    done = resolve(auth_client, [{"conflictId": result["conflict"]["conflictId"], "resolution": "keep_both"}])
    item = done[result["conflict"]["conflictId"]]
    assert item["status"] == "resolved" and item["file"]["name"] == "server.txt"
    assert item["copy"]["name"] == "phone.txt" and item["copy"]["checksum"] == f"sha256:{sha(b'a')}"


def test_delete_of_an_edited_file_is_a_conflict_and_keep_local_trashes_it(auth_client):
    doc = upload(auth_client, "a.txt", b"v1")
    token = status(auth_client)["nextSyncToken"]
    upload(auth_client, "a.txt", b"v2")
    result = push(auth_client, [{"action": "delete", "localId": "d", "fileId": doc["id"]}], token)["d"]
    assert result["status"] == "conflict"
    conflict_id = result["conflict"]["conflictId"]
    done = resolve(auth_client, [{"conflictId": conflict_id, "resolution": "keep_local"}])[conflict_id]
    assert done["status"] == "resolved" and done["file"] is None
    trash = auth_client.get("/api/trash").json()["data"]
    assert doc["id"] in str(trash)  # restorable, with its versions


def test_upload_onto_other_content_at_the_path_is_a_conflict(auth_client):
    upload(auth_client, "same.txt", b"server")
    result = push(auth_client, [new_file("n", "same.txt", b"phone")])["n"]
    assert result["status"] == "conflict" and result["conflict"]["reason"] == "exists"
    conflict_id = result["conflict"]["conflictId"]
    done = resolve(auth_client, [{"conflictId": conflict_id, "resolution": "keep_both"}])[conflict_id]
    copy = send(auth_client, done["upload"], b"phone")
    assert copy["name"] == "same (conflicted copy).txt"
    names = {e["name"] for e in status(auth_client)["changes"]["created"]}
    assert names == {"same.txt", "same (conflicted copy).txt"}


# --- two phones of one user -----------------------------------------------------------------

def test_two_phones_edit_one_file_one_conflict_keep_local_loses_nothing(phones):
    a, b = phones
    data = b"report v1"
    up = push(a, [new_file("a-1", "report.txt", data, folder="/docs")])["a-1"]["upload"]
    report = send(a, up, data)
    replica_b = Replica()
    pages, token_b = drain(b)
    for page in pages:
        replica_b.apply(page)
    assert replica_b.entries[report["id"]]["folder"] == "/docs"
    token_a = status(a)["nextSyncToken"]
    # Both edit version 1 offline, then push.
    from_a, from_b = b"report v2 by A", b"report v2 by B"
    first = push(a, [edit("a-2", report["id"], from_a)], token_a)["a-2"]
    second = push(b, [edit("b-2", report["id"], from_b)], token_b)["b-2"]
    assert first["status"] == "upload"
    assert second["status"] == "conflict" and second["conflict"]["reason"] == "pending"
    assert second["conflict"]["deviceId"] == "phone-b"
    send(a, first["upload"], from_a)
    # B pushes again (the same local file): still that one conflict.
    assert push(b, [edit("b-2", report["id"], from_b)], token_b)["b-2"]["conflict"]["conflictId"] == \
        second["conflict"]["conflictId"]
    open_conflicts = status(a)["conflicts"]
    assert [c["conflictId"] for c in open_conflicts] == [second["conflict"]["conflictId"]]
    conflict_id = second["conflict"]["conflictId"]
    done = resolve(b, [{"conflictId": conflict_id, "resolution": "keep_local"}])[conflict_id]
    assert done["status"] == "resolved" and done["upload"]
    send(b, done["upload"], from_b)
    assert versions(a, report["id"]) == [(1, sha(data)), (2, sha(from_a)), (3, sha(from_b))]
    assert download(a, report["id"]) == from_b
    assert status(a)["conflicts"] == []
    # Resolving again answers the same result; another choice is refused.
    again = resolve(b, [{"conflictId": conflict_id, "resolution": "keep_local"}])[conflict_id]
    assert again["upload"]["uploadId"] == done["upload"]["uploadId"] and again["status"] == "resolved"
    other = resolve(b, [{"conflictId": conflict_id, "resolution": "keep_remote"}])[conflict_id]
    assert other["status"] == "error" and other["error"]["code"] == "CONFLICT_ALREADY_RESOLVED"
    assert len(versions(a, report["id"])) == 3
    # Both phones converge on the server's tree.
    for client, token in ((a, token_a), (b, token_b)):
        replica = Replica()
        for page in drain(client)[0]:
            replica.apply(page)
        assert replica.view() == server_view(client)


@pytest.mark.parametrize("resolution", ["keep_remote", "keep_both"])
def test_two_phones_edit_one_file_other_resolutions_lose_nothing(phones, resolution):
    a, b = phones
    report = upload(a, "report.txt", b"v1")
    token_b = status(b)["nextSyncToken"]
    token_a = status(a)["nextSyncToken"]
    send(a, push(a, [edit("a", report["id"], b"A's edit")], token_a)["a"]["upload"], b"A's edit")
    conflict = push(b, [edit("b", report["id"], b"B's edit")], token_b)["b"]["conflict"]
    assert conflict["reason"] == "modified"
    done = resolve(b, [{"conflictId": conflict["conflictId"], "resolution": resolution}])[conflict["conflictId"]]
    assert done["file"]["id"] == report["id"] and done["file"]["version"] == 2
    if resolution == "keep_remote":
        assert "upload" not in done
    else:
        copy = send(b, done["upload"], b"B's edit")
        assert copy["name"] == "report (conflicted copy).txt"
        assert download(b, copy["id"]) == b"B's edit"
    assert versions(a, report["id"]) == [(1, sha(b"v1")), (2, sha(b"A's edit"))]
    assert download(a, report["id"]) == b"A's edit"


def test_conflicts_of_another_user_are_404_and_untouched(auth_client, other_client):
    doc = upload(auth_client, "a.txt", b"v1")
    token = status(auth_client)["nextSyncToken"]
    upload(auth_client, "a.txt", b"v2")
    conflict_id = push(auth_client, [edit("e", doc["id"], b"v3")], token)["e"]["conflict"]["conflictId"]
    body = resolve(other_client, [{"conflictId": conflict_id, "resolution": "keep_local"}], expect=404)
    assert body["error"]["code"] == "CONFLICT_NOT_FOUND"
    mixed = resolve(auth_client, [{"conflictId": conflict_id, "resolution": "keep_remote"},
                                  {"conflictId": "00000000-0000-0000-0000-000000000000",
                                   "resolution": "keep_remote"}], expect=404)
    assert mixed["error"]["code"] == "CONFLICT_NOT_FOUND"
    assert status(other_client)["conflicts"] == []
    assert [c["status"] for c in status(auth_client)["conflicts"]] == ["open"]  # nothing was resolved


# --- the offline queue ------------------------------------------------------------------------

def test_queue_applies_once_and_replays_the_stored_result(auth_client):
    existing = upload(auth_client, "file_456.txt", b"old")
    data = b"IMG_001 bytes"
    ops = [
        {"id": "op_123", "type": "upload", "localPath": "/storage/photos/IMG_001.jpg",
         "remotePath": "/photos/IMG_001.jpg", "priority": "normal", "createdAt": "2024-01-20T15:00:00Z",
         "size": len(data), "checksum": f"sha256:{sha(data)}"},
        {"id": "op_124", "type": "delete", "fileId": existing["id"], "priority": "low",
         "createdAt": "2024-01-20T15:01:00Z"},
        {"id": "op_125", "type": "mkdir", "remotePath": "/albums/2024"},
    ]
    first = queue(auth_client, ops)
    assert {key: (value["status"], value["replayed"]) for key, value in first.items()} == \
        {"op_123": ("upload", False), "op_124": ("applied", False), "op_125": ("applied", False)}
    photo = send(auth_client, first["op_123"]["upload"], data)
    before = status(auth_client)["nextSyncToken"]
    replay = queue(auth_client, ops)
    assert {key: (value["status"], value["replayed"]) for key, value in replay.items()} == \
        {"op_123": ("upload", True), "op_124": ("applied", True), "op_125": ("applied", True)}
    assert replay["op_123"]["upload"]["uploadId"] == first["op_123"]["upload"]["uploadId"]
    assert status(auth_client, before)["hasChanges"] is False  # the replay changed nothing
    listing = status(auth_client)["changes"]["created"]
    assert [(e["name"], e["folder"]) for e in listing if e["kind"] == "file"] == [("IMG_001.jpg", "/photos")]
    assert {e["id"] for e in listing} >= {photo["id"]}


def test_queue_bad_operations_get_their_own_errors(auth_client, other_client):
    theirs = upload(other_client, "theirs.txt", b"t")
    results = queue(auth_client, [
        {"id": "ok", "type": "mkdir", "remotePath": "/fine"},
        {"id": "bad-type", "type": "teleport"},
        {"id": "no-path", "type": "upload", "size": 1, "checksum": "sha256:" + "0" * 64},
        {"id": "bad-sum", "type": "upload", "remotePath": "/x.bin", "size": 1, "checksum": "md5:abc"},
        {"id": "foreign", "type": "delete", "fileId": theirs["id"]},
        {"id": "traversal", "type": "mkdir", "remotePath": "/a/../../b"},
    ])
    assert results["ok"]["status"] == "applied"
    assert {key: value["error"]["code"] for key, value in results.items() if key != "ok"} == {
        "bad-type": "VALIDATION_ERROR", "no-path": "VALIDATION_ERROR", "bad-sum": "VALIDATION_ERROR",
        "foreign": "NOT_FOUND", "traversal": "INVALID_NAME"}
    assert other_client.get(f"/api/files/{theirs['id']}/info").status_code == 200
    # A failed operation is not stored: once it can succeed, it does.
    fixed = queue(auth_client, [{"id": "no-path", "type": "mkdir", "remotePath": "/later"}])
    assert fixed["no-path"]["status"] == "applied" and fixed["no-path"]["replayed"] is False


def test_queue_ids_are_per_user(auth_client, other_client):
    mine = queue(auth_client, [{"id": "op_1", "type": "mkdir", "remotePath": "/mine"}])["op_1"]
    theirs = queue(other_client, [{"id": "op_1", "type": "mkdir", "remotePath": "/theirs"}])["op_1"]
    assert mine["replayed"] is False and theirs["replayed"] is False
    assert theirs["file"]["name"] == "theirs" and theirs["file"]["id"] != mine["file"]["id"]
    assert [e["name"] for e in status(other_client)["changes"]["created"]] == ["theirs"]


def test_phone_a_queues_offline_uploads_phone_b_syncs_them(phones):
    """Issue 6's two-device scenario, start to end."""
    a, b = phones
    token_b = status(b)["nextSyncToken"]
    shots = {f"IMG_{i}.jpg": b"jpeg %d" % i * 50 for i in range(3)}
    ops = [{"id": f"op_{name}", "type": "upload", "remotePath": f"/Camera/{name}", "size": len(data),
            "checksum": f"sha256:{sha(data)}"} for name, data in shots.items()]
    results = queue(a, ops)
    for name, data in shots.items():
        send(a, results[f"op_{name}"]["upload"], data)
    queue(a, ops)  # the phone was unsure and sent its queue again
    data = status(b, token_b)
    assert sorted((e["name"], e["folder"]) for e in data["changes"]["created"]) == \
        [("Camera", "/")] + [(name, "/Camera") for name in sorted(shots)]
    by_name = {e["name"]: e for e in data["changes"]["created"]}
    for name, content in shots.items():
        assert by_name[name]["checksum"] == f"sha256:{sha(content)}"
        assert download(b, by_name[name]["id"]) == content


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite runs one writer at a time; the race runs on "
                    "PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_phones_push_edits_of_one_file_at_the_same_moment(user, client_for):
    """Issue 10: two devices updating one file at once → one conflict, no version lost."""
    import threading

    a, b = phone(client_for, user, "phone-a"), phone(client_for, user, "phone-b")
    report = upload(a, "report.txt", b"v1")
    token = status(a)["nextSyncToken"]
    start, results = threading.Barrier(2), {}

    def push_edit(client, name):
        try:
            start.wait(10)
            results[name] = push(client, [edit(name, report["id"], name.encode() * 10)], token)[name]
        finally:
            connection.close()

    threads = [threading.Thread(target=push_edit, args=(client, name)) for client, name in ((a, "a"), (b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r["status"] for r in results.values()) == ["conflict", "upload"]
    winner = next(name for name, r in results.items() if r["status"] == "upload")
    loser = next(name for name, r in results.items() if r["status"] == "conflict")
    clients = {"a": a, "b": b}
    send(clients[winner], results[winner]["upload"], winner.encode() * 10)
    conflict_id = results[loser]["conflict"]["conflictId"]
    done = resolve(clients[loser], [{"conflictId": conflict_id, "resolution": "keep_local"}])[conflict_id]
    send(clients[loser], done["upload"], loser.encode() * 10)
    assert versions(a, report["id"]) == [(1, sha(b"v1")), (2, sha(winner.encode() * 10)),
                                         (3, sha(loser.encode() * 10))]
    assert [c["conflictId"] for c in status(a)["conflicts"]] == []
