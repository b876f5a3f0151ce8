"""Issue 6's two-device scenario through the doors a phone really uses: both phones
sign in with `POST /api/mobile/auth/register`, phone A applies its offline queue and
sends the bytes, phone B syncs them, both edit one file, the conflict is resolved,
nothing is lost, and removing phone B ends its session."""

import pytest

from files.tests.helpers import download, sha
from files.tests.test_sync_changes import edit, push, queue, resolve, send, versions
from files.tests.test_sync_status import status

from .helpers import phone

pytestmark = pytest.mark.django_db


def test_two_registered_phones_queue_sync_conflict_and_lose_nothing(user):
    a, b = phone(user, "pixel-a"), phone(user, "iphone-b")
    token_b = status(b)["nextSyncToken"]

    # Phone A was offline: its queue holds two photos; it sends the queue, then the bytes.
    shots = {"IMG_1.jpg": b"first photo" * 40, "IMG_2.jpg": b"second photo" * 40}
    ops = [{"id": f"op-{name}", "type": "upload", "remotePath": f"/Camera/{name}", "size": len(data),
            "checksum": f"sha256:{sha(data)}"} for name, data in shots.items()]
    answers = queue(a, ops)
    files = {name: send(a, answers[f"op-{name}"]["upload"], data) for name, data in shots.items()}
    assert queue(a, ops)["op-IMG_1.jpg"]["replayed"] is True  # sent twice, applied once

    # Phone B syncs and gets both, byte for byte.
    delta = status(b, token_b)
    seen = {entry["name"]: entry for entry in delta["changes"]["created"]}
    for name, data in shots.items():
        assert seen[name]["checksum"] == f"sha256:{sha(data)}"
        assert download(b, seen[name]["id"]) == data
    token_b = delta["nextSyncToken"]
    token_a = status(a)["nextSyncToken"]

    # Both edit IMG_1 from version 1: A first, then B's push is the one conflict.
    photo = files["IMG_1.jpg"]["id"]
    edit_a, edit_b = b"cropped on A" * 40, b"filtered on B" * 40
    send(a, push(a, [edit("a-1", photo, edit_a)], token_a)["a-1"]["upload"], edit_a)
    conflict = push(b, [edit("b-1", photo, edit_b)], token_b)["b-1"]
    assert conflict["status"] == "conflict" and conflict["conflict"]["deviceId"] == "iphone-b"
    conflict_id = conflict["conflict"]["conflictId"]
    assert [c["conflictId"] for c in status(a)["conflicts"]] == [conflict_id]

    # B keeps both: its edit becomes a renamed copy; A's version stays current.
    done = resolve(b, [{"conflictId": conflict_id, "resolution": "keep_both"}])[conflict_id]
    copy = send(b, done["upload"], edit_b)
    assert copy["id"] != photo and "conflicted copy" in copy["name"]
    assert versions(a, photo) == [(1, sha(shots["IMG_1.jpg"])), (2, sha(edit_a))]
    assert download(a, photo) == edit_a and download(a, copy["id"]) == edit_b
    assert status(a)["conflicts"] == []

    # Removing phone B from phone A ends B's session at once.
    assert a.delete(f"/api/mobile/devices/{b.device}").status_code == 200
    assert b.get("/api/mobile/sync/status").status_code == 401
