"""Where SQLite and PostgreSQL could answer a user differently, pinned through HTTP; the
suite runs on both (make test, then the production configuration), so each test holds the
behaviour on both databases (docs/input.md, "The two databases")."""

import unicodedata
from datetime import datetime, timezone

import pytest

from files.tests.helpers import upload
from files.tests.test_sync_status import status
from folders.models import Change

pytestmark = pytest.mark.django_db

NFC = unicodedata.normalize("NFC", "été")
NFD = unicodedata.normalize("NFD", "été")


def _names(resp) -> list[str]:
    assert resp.status_code == 200, resp.content
    return [item["name"] for item in resp.json()["data"]["items"]]


def test_names_that_differ_only_in_case_are_two_names(auth_client):
    # Names are case-sensitive on both databases, as on a Linux file system.
    upload(auth_client, "Report.pdf", b"upper", onConflict="error")
    upload(auth_client, "report.pdf", b"lower", onConflict="error")
    resp = auth_client.post("/api/folders/create", {"name": "Docs"}, format="json")
    assert resp.status_code == 201, resp.content
    assert auth_client.post("/api/folders/create", {"name": "docs"}, format="json").status_code == 201
    assert auth_client.post("/api/folders/create", {"name": "Docs"}, format="json").status_code == 409
    assert sorted(_names(auth_client.get("/api/files/list"))) == ["Report.pdf", "report.pdf"]


def test_search_ignores_case_for_every_letter(auth_client):
    for name in ["Report.pdf", "report.pdf", "ÉTÉ-2024.txt", "été.txt", "ete.txt", "ΣΟΦΙΑ.txt", "straße.txt"]:
        upload(auth_client, name, name.encode())
    assert sorted(_names(auth_client.get("/api/search", {"q": "REPORT"}))) == ["Report.pdf", "report.pdf"]
    # SQLite's own UPPER() knows ASCII only: 'été' missed 'ÉTÉ' there.
    assert sorted(_names(auth_client.get("/api/search", {"q": "été"}))) == ["ÉTÉ-2024.txt", "été.txt"]
    assert sorted(_names(auth_client.get("/api/search", {"q": "ÉTÉ"}))) == ["ÉTÉ-2024.txt", "été.txt"]
    assert _names(auth_client.get("/api/search", {"q": "σοφια"})) == ["ΣΟΦΙΑ.txt"]
    assert _names(auth_client.get("/api/search", {"q": "STRAßE"})) == ["straße.txt"]  # letter by letter
    assert _names(auth_client.get("/api/search", {"q": "ete"})) == ["ete.txt"]  # accents count


def test_nfc_and_nfd_forms_of_a_name_are_one_name(auth_client):
    stored = upload(auth_client, f"{NFD}.txt", b"decomposed")
    assert stored["name"] == f"{NFC}.txt"  # kept in NFC, whatever form the client sent
    resp = auth_client.post("/api/files/upload", {"file": _file(f"{NFC}.txt"), "onConflict": "error"},
                            format="multipart")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "NAME_CONFLICT", resp.content
    # A search typed in either form finds it (macOS keyboards send NFD).
    assert _names(auth_client.get("/api/search", {"q": NFD})) == [f"{NFC}.txt"]
    assert _names(auth_client.get("/api/search", {"q": NFC})) == [f"{NFC}.txt"]
    folder = auth_client.post("/api/folders/create", {"name": NFD}, format="json")
    assert folder.status_code == 201 and folder.json()["data"]["name"] == NFC
    assert auth_client.post("/api/folders/create", {"name": NFC}, format="json").status_code == 409


def _file(name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, b"x", content_type="application/octet-stream")


def test_names_sort_by_code_point_on_both_databases(auth_client):
    # PostgreSQL sorts by the database's collation: Stratus's databases use C (or C.UTF-8),
    # which orders by code point, as SQLite does. No natural order: 'a10' before 'a2'.
    names = ["b.txt", "B.txt", "a10.txt", "a2.txt", "é.txt", "e.txt", "f.txt", "Z.txt", "_x.txt", "1.txt",
             "Ä.txt", "ä.txt"]
    for name in names:
        upload(auth_client, name, name.encode())
    expected = sorted(names)
    assert expected[:4] == ["1.txt", "B.txt", "Z.txt", "_x.txt"] and expected[-3:] == ["Ä.txt", "ä.txt", "é.txt"]
    assert _names(auth_client.get("/api/files/list", {"ordering": "name"})) == expected
    assert _names(auth_client.get("/api/search", {"q": ".txt"})) == expected
    assert _names(auth_client.get("/api/folders/root/contents")) == expected


@pytest.mark.parametrize("microsecond, written", [(120000, ".120000Z"), (123456, ".123456Z"), (0, "Z"),
                                                  (1, ".000001Z")])
def test_delta_sync_times_keep_their_microseconds_in_one_form(auth_client, user, microsecond, written):
    token = status(auth_client)["nextSyncToken"]  # the full listing (empty), then deltas from here
    file_id = upload(auth_client, "a.txt")["id"]
    at = datetime(2026, 1, 2, 3, 4, 5, microsecond, tzinfo=timezone.utc)
    Change.objects.filter(owner=user).update(created_at=at)  # as if written at that instant
    data = status(auth_client, token)
    [entry] = [item for item in data["changes"]["created"] if item["id"] == file_id]
    # PostgreSQL's text of a time drops trailing zeros ('.12'), SQLite keeps six digits:
    # both come out as the rest of the API writes times.
    assert entry["modifiedAt"] == "2026-01-02T03:04:05" + written
    # The token of that page still works: the journal row it names is found again.
    assert status(auth_client, data["nextSyncToken"])["changes"]["created"] == []
