"""WebDAV on the one domain model: what a PUT, DELETE, COPY or MOVE at /dav/ does is
what the other APIs see, and bad input gets a clear DAV error that keeps nothing."""

import hashlib
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from files.models import Blob
from files.tests.helpers import download, mkdir, upload, usage
from files.tests.test_sync_status import status
from folders import services as tree
from folders.models import Node, NodeKind

from .helpers import PROPFIND_ALL, served_measured

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024


def _listed(client, **params) -> dict[str, dict]:
    resp = client.get("/api/files/list", {"pageSize": 1000, **params})
    assert resp.status_code == 200, resp.content
    return {f["name"]: f for f in resp.json()["data"]["items"]}


def test_put_is_the_same_file_in_the_api_and_the_sync_journal(dav, auth_client):
    token = status(auth_client)["nextSyncToken"]
    assert dav.mkcol("/dav/Docs").status == 201
    assert dav.put("/dav/Docs/report.txt", b"quarterly numbers", content_type="text/plain").status == 201

    listed = _listed(auth_client)["report.txt"]
    assert (listed["size"], listed["sha256"]) == (17, hashlib.sha256(b"quarterly numbers").hexdigest())
    assert download(auth_client, listed["id"]) == b"quarterly numbers"
    created = status(auth_client, token)["changes"]["created"]
    assert {(e["name"], e["folder"]) for e in created} == {("Docs", "/"), ("report.txt", "/Docs")}
    got = dav.get("/dav/Docs/report.txt")
    assert (got.status, got.body, got.headers["ETag"]) == (200, b"quarterly numbers", f'"{listed["sha256"]}"')


def test_overwrite_is_a_new_version_and_equal_content_is_stored_once(dav, auth_client):
    assert dav.put("/dav/a.txt", b"first").status == 201
    assert dav.put("/dav/copy-of-a.txt", b"first").status == 201
    assert Blob.objects.filter(sha256=hashlib.sha256(b"first").hexdigest()).get().ref_count == 2
    assert dav.put("/dav/a.txt", b"second!").status == 204

    node = _listed(auth_client)["a.txt"]
    versions = auth_client.get(f"/api/files/{node['id']}/versions").json()["data"]
    assert sorted(v["size"] for v in versions) == [5, 7]
    assert dav.get("/dav/a.txt").body == b"second!"
    assert usage(auth_client)["used"] == 5 + 5 + 7  # every version and copy counts


def test_a_put_of_a_name_taken_after_it_was_looked_up_is_a_new_version(dav, auth_client, monkeypatch):
    """A parallel PUT creates the name between this PUT's lookup (no entry) and its commit:
    the file gets a new version, as if the lookup had found it, not a conflict."""
    assert dav.put("/dav/race.txt", b"first").status == 201
    from dav import selectors

    real = selectors.nodes_along
    monkeypatch.setattr(selectors, "nodes_along", lambda **kw: real(**kw)[:len(kw["names"]) - 1])  # "not there"
    assert dav.put("/dav/race.txt", b"second!").status == 201
    monkeypatch.undo()

    node = _listed(auth_client)["race.txt"]
    versions = auth_client.get(f"/api/files/{node['id']}/versions").json()["data"]
    assert sorted(v["size"] for v in versions) == [5, 7]
    assert dav.get("/dav/race.txt").body == b"second!"
    assert usage(auth_client)["used"] == 5 + 7


def test_a_put_of_a_new_small_file_costs_few_statements(dav):
    """Sign-in, lookups, the file with its version, journal entry and quota, the preview
    request: a client sends thousands of these."""
    dav.mkcol("/dav/many")
    dav.put("/dav/many/first.bin", b"\x00" * 10240)  # the first sign-in of an app password records its use
    with CaptureQueriesContext(connection) as queries:
        assert dav.put("/dav/many/second.bin", bytes(range(256)) * 40).status == 201
    # 4 of them are the storage check, a worker's task that tests run at once; SQLite has a
    # savepoint where PostgreSQL locks the journal
    assert len(queries) <= {"postgresql": 24, "sqlite": 25}[connection.vendor], "\n".join(q["sql"][:80] for q in queries)


def test_range_and_conditional_get(dav):
    dav.put("/dav/r.bin", bytes(range(256)) * 4)
    part = dav.get("/dav/r.bin", HTTP_RANGE="bytes=10-19")
    assert (part.status, part.body) == (206, bytes(range(10, 20)))
    etag = dav.get("/dav/r.bin").headers["ETag"]
    assert dav.get("/dav/r.bin", HTTP_IF_NONE_MATCH=etag).status == 304


def test_delete_goes_to_the_trash(dav, auth_client):
    dav.mkcol("/dav/old")
    dav.put("/dav/old/note.txt", b"keep me")
    assert dav.delete("/dav/old").status == 204
    assert dav.get("/dav/old/note.txt").status == 404
    trash = auth_client.get("/api/trash").json()["data"]["items"]
    assert [entry["name"] for entry in trash] == ["old"]
    restored = auth_client.post(f"/api/trash/{trash[0]['id']}/restore")
    assert restored.status_code == 200, restored.content
    assert dav.get("/dav/old/note.txt").body == b"keep me"


def test_copy_shares_the_bytes_and_counts_against_quota(dav, auth_client):
    dav.mkcol("/dav/src")
    dav.put("/dav/src/one.bin", b"1" * 1000)
    dav.put("/dav/src/two.bin", b"2" * 500)
    blobs = Blob.objects.count()
    assert dav.copy("/dav/src", "/dav/dst").status == 201
    assert Blob.objects.count() == blobs  # no byte copied
    assert dav.get("/dav/dst/two.bin").body == b"2" * 500
    assert usage(auth_client)["used"] == 3000
    assert dav.copy("/dav/src/one.bin", "/dav/dst/two.bin", HTTP_OVERWRITE="F").status == 412
    assert dav.copy("/dav/src/one.bin", "/dav/dst/two.bin", HTTP_OVERWRITE="T").status == 204
    assert dav.get("/dav/dst/two.bin").body == b"1" * 1000


def test_move_renames_and_keeps_the_file(dav, auth_client):
    dav.mkcol("/dav/in")
    dav.put("/dav/x.txt", b"x")
    dav.put("/dav/in/y.txt", b"y")
    before = _listed(auth_client)["x.txt"]["id"]
    assert dav.move("/dav/x.txt", "/dav/in/y.txt", HTTP_OVERWRITE="F").status == 412
    assert dav.move("/dav/x.txt", "/dav/in/z.txt").status == 201
    assert _listed(auth_client)["z.txt"]["id"] == before
    assert dav.get("/dav/x.txt").status == 404
    assert dav.move("/dav/in/z.txt", "/dav/in/y.txt").status == 204  # the old y.txt goes to the trash
    assert dav.get("/dav/in/y.txt").body == b"x"


@pytest.mark.parametrize("name", ["bad%00name", "bad%01name", "tab%09name", "bad%7Fname"])
def test_names_with_control_characters_are_refused_and_nothing_is_kept(dav, name):
    answer = dav.put(f"/dav/{name}", b"data")
    assert answer.status == 400 and b"invalid-name" in answer.body, answer
    assert dav.mkcol(f"/dav/{name}").status == 400
    assert not Node.objects.filter(kind=NodeKind.FILE).exists()


def test_dot_segments_and_slashes_never_make_a_name(dav):
    dav.mkcol("/dav/box")
    dav.put("/dav/box/f.txt", b"f")
    for bad in ("/dav/box/..", "/dav/box/.", "/dav/box/%2e%2e"):
        assert dav.move("/dav/box/f.txt", bad).status >= 400
    assert dav.put("/dav/a%2Fb", b"x").status == 409  # "a" is no folder: never a name with "/"
    assert set(Node.objects.filter(parent__isnull=False).values_list("name", flat=True)) == {"box", "f.txt"}


def test_if_headers_and_locks(dav, other_dav):
    dav.put("/dav/doc.txt", b"v1")
    etag = dav.get("/dav/doc.txt").headers["ETag"]
    assert dav.put("/dav/doc.txt", b"v2", HTTP_IF_MATCH='"not-the-etag"').status == 412
    assert dav.put("/dav/doc.txt", b"v2", HTTP_IF_MATCH=etag).status == 204
    assert dav.put("/dav/doc.txt", b"v3", HTTP_IF_NONE_MATCH="*").status == 412

    lock = dav.request("LOCK", "/dav/doc.txt", b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope>'
                       b'<D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
                       content_type="application/xml")
    assert lock.status == 200, lock
    token = lock.headers["Lock-Token"].strip("<>")
    assert dav.put("/dav/doc.txt", b"v4").status == 423
    assert dav.delete("/dav/doc.txt").status == 423
    assert dav.put("/dav/doc.txt", b"v4", HTTP_IF=f"(<{token}>)").status == 204
    assert dav.put("/dav/doc.txt", b"v5", HTTP_IF="(<opaquelocktoken:made-up>)").status == 412
    # Another user's tree has its own /doc.txt, and A's lock is not theirs.
    assert other_dav.put("/dav/doc.txt", b"mine").status == 201
    assert dav.request("UNLOCK", "/dav/doc.txt", HTTP_LOCK_TOKEN=f"<{token}>").status == 204
    assert dav.delete("/dav/doc.txt").status == 204


def test_propfind_depth_infinity_is_refused(dav):
    answer = dav.propfind("/dav/", "infinity")
    assert answer.status == 403 and b"propfind-finite-depth" in answer.body


def test_properties(dav, user):
    dav.mkcol("/dav/Photos")
    dav.put("/dav/Photos/cat.jpg", b"\xff\xd8 not really a jpeg!", content_type="image/jpeg")
    assert dav.prop("/dav/Photos/cat.jpg", "getetag") == hashlib.sha256(b"\xff\xd8 not really a jpeg!").hexdigest()
    assert dav.prop("/dav/Photos/cat.jpg", "getcontentlength") == "21"
    assert dav.prop("/dav/Photos/cat.jpg", "getcontenttype") == "image/jpeg"
    assert dav.prop("/dav/Photos/cat.jpg", "displayname") == "cat.jpg"
    assert dav.prop("/dav/Photos/cat.jpg", "getlastmodified").endswith("GMT")
    assert dav.prop("/dav/Photos/cat.jpg", "creationdate")
    assert dav.prop("/dav/Photos", "resourcetype") == "<D:collection/>"
    user.refresh_from_db()
    assert dav.prop("/dav/", "quota-used-bytes") == "21"
    assert dav.prop("/dav/", "quota-available-bytes") == str(user.storage_quota - 21)

    patch = dav.request("PROPPATCH", "/dav/Photos/cat.jpg", b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
                        b'xmlns:Z="urn:example"><D:set><D:prop><Z:rating>5</Z:rating></D:prop></D:set>'
                        b'</D:propertyupdate>', content_type="application/xml")
    assert patch.status == 207, patch
    dav.move("/dav/Photos/cat.jpg", "/dav/cat.jpg")
    answer = dav.propfind("/dav/cat.jpg", "0")
    assert b"rating" in answer.body and b">5</" in answer.body  # the property followed the file


def test_getlastmodified_is_protected_and_a_proppatch_setting_it_changes_nothing(dav):
    dav.put("/dav/t.txt", b"x")
    before = dav.prop("/dav/t.txt", "getlastmodified")
    patch = dav.request("PROPPATCH", "/dav/t.txt", b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
                        b'xmlns:Z="urn:example"><D:set><D:prop><D:getlastmodified>Mon, 01 Jan 2001 00:00:00 GMT'
                        b"</D:getlastmodified><Z:rating>5</Z:rating></D:prop></D:set></D:propertyupdate>",
                        content_type="application/xml")
    assert patch.status == 207, patch
    statuses = {prop.tag: stat.findtext("{DAV:}status") for stat in ElementTree.fromstring(patch.body).iter(
        "{DAV:}propstat") for prop in stat.find("{DAV:}prop")}
    assert "403" in statuses["{DAV:}getlastmodified"] and "424" in statuses["{urn:example}rating"], statuses
    assert dav.prop("/dav/t.txt", "getlastmodified") == before
    assert b"rating" not in dav.propfind("/dav/t.txt", "0").body


# What Windows' WebDAV redirector sends after copying a file in (Windows 11,
# Microsoft-WebDAV-MiniRedir/10.0): its file times and attributes.
WINDOWS_PROPPATCH = (
    b'<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:">'
    b"<D:set><D:prop><Z:Win32CreationTime>Fri, 25 Sep 2026 09:40:11 GMT</Z:Win32CreationTime>"
    b"<Z:Win32LastAccessTime>Fri, 25 Sep 2026 09:40:11 GMT</Z:Win32LastAccessTime>"
    b"<Z:Win32LastModifiedTime>Fri, 25 Sep 2026 09:40:11 GMT</Z:Win32LastModifiedTime>"
    b"<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>")


@pytest.mark.parametrize("path", ["/dav/report.txt", "/dav/Reports"])
def test_windows_sets_its_file_times_and_attributes_after_a_copy(dav, path):
    dav.put("/dav/report.txt", b"saved from Explorer")
    dav.mkcol("/dav/Reports")
    before = dav.prop(path, "getlastmodified")
    patch = dav.request("PROPPATCH", path, WINDOWS_PROPPATCH, content_type='text/xml; charset="utf-8"',
                        HTTP_USER_AGENT="Microsoft-WebDAV-MiniRedir/10.0.26200")
    assert patch.status == 207, patch
    statuses = {prop.tag: stat.findtext("{DAV:}status") for stat in ElementTree.fromstring(patch.body).iter(
        "{DAV:}propstat") for prop in stat.find("{DAV:}prop")}
    names = ("Win32CreationTime", "Win32LastAccessTime", "Win32LastModifiedTime", "Win32FileAttributes")
    assert statuses == {f"{{urn:schemas-microsoft-com:}}{name}": "HTTP/1.1 200 OK" for name in names}
    answer = dav.propfind(path, "0")
    assert b">00000020</" in answer.body and b"Fri, 25 Sep 2026 09:40:11 GMT" in answer.body  # kept, read back
    assert dav.prop(path, "getlastmodified") == before  # the server's own time stays the server's
    if path == "/dav/report.txt":
        assert dav.get(path).body == b"saved from Explorer"


def test_a_folder_etag_changes_when_anything_below_changes(dav):
    dav.mkcol("/dav/a")
    dav.mkcol("/dav/a/b")
    dav.mkcol("/dav/a/b/c")
    seen = [dav.prop("/dav/a", "getetag")]
    assert dav.prop("/dav/a", "getetag") == seen[-1]  # nothing changed, nothing moves

    for step in (lambda: dav.put("/dav/a/b/c/f.txt", b"1"), lambda: dav.put("/dav/a/b/c/f.txt", b"22"),
                 lambda: dav.move("/dav/a/b/c/f.txt", "/dav/a/b/c/g.txt"),
                 lambda: dav.move("/dav/a/b/c/g.txt", "/dav/a/b/g.txt"),
                 lambda: dav.delete("/dav/a/b/g.txt"), lambda: dav.mkcol("/dav/a/b/c/d")):
        assert step().status < 300
        seen.append(dav.prop("/dav/a", "getetag"))
        assert len(set(seen)) == len(seen), "the etag did not change"
    assert dav.prop("/dav/", "getetag") != dav.prop("/dav/a", "getetag")


def _bulk_files(user, folder: Node, count: int) -> None:
    """`count` file rows in `folder` at once (a listing's cost does not depend on how they came)."""
    rows = Node.objects.bulk_create([Node(owner=user, parent=folder, kind=NodeKind.FILE, name=f"f{n:05d}.txt",
                                          depth=folder.depth + 1, size=n, version=1, sha256="0" * 64,
                                          mime_type="text/plain") for n in range(count)])
    for node in rows:
        node.path = f"{folder.path}{node.pk}/"
    Node.objects.bulk_update(rows, ["path"], batch_size=1000)


def test_propfind_depth_1_costs_the_same_queries_for_10_or_10000_entries(dav, user):
    home = tree.home_get(user=user)
    small = tree.folder_create(user=user, parent=home, name="small")
    big = tree.folder_create(user=user, parent=home, name="big")
    tree.folder_create(user=user, parent=small, name="sub")
    tree.folder_create(user=user, parent=big, name="sub")
    _bulk_files(user, small, 10)
    _bulk_files(user, big, 10_000)

    dav.propfind("/dav/", "0")  # the first sign-in of an app password records its use
    named = (b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:example"><D:prop><D:displayname/>'
             b"<D:getlastmodified/><D:getcontentlength/><D:resourcetype/><D:getetag/><Z:none/></D:prop></D:propfind>")
    for body in (PROPFIND_ALL, named):  # allprop, and the named properties rclone asks (and one nobody has)
        counts = {}
        for name in ("small", "big"):
            with CaptureQueriesContext(connection) as queries:
                answer = dav.propfind(f"/dav/{name}/", "1", body)
            assert answer.status == 207
            assert answer.body.count(b"<D:response>") == {"small": 12, "big": 10_002}[name]
            counts[name] = len(queries)
        assert counts["small"] == counts["big"], counts


def test_a_listing_is_well_formed_xml_whatever_the_names_and_dead_properties(dav):
    dav.mkcol("/dav/box")
    odd = "a&b <c> \"q\" 'é' 日本.txt"
    assert dav.put("/dav/box/" + quote(odd), b"x").status == 201
    dead = (b'<Z:meta xmlns:Z="urn:example" Z:kind="a&amp;b" plain="1"><Z:tag>x &lt; y</Z:tag>'
            b'<other xmlns="urn:other">t</other></Z:meta>')
    patch = dav.request("PROPPATCH", "/dav/box/" + quote(odd), b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:">'
                        b"<D:set><D:prop>" + dead + b"</D:prop></D:set></D:propertyupdate>",
                        content_type="application/xml")
    assert patch.status == 207, patch
    for body in (PROPFIND_ALL, b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:example"><D:prop>'
                 b"<D:displayname/><D:resourcetype/><Z:meta/><Z:missing/></D:prop></D:propfind>"):
        answer = dav.propfind("/dav/box/", "1", body)
        assert answer.status == 207, answer
        responses = ElementTree.fromstring(answer.body).findall("{DAV:}response")  # parses: well formed
        file = next(r for r in responses if r.findtext("{DAV:}href").endswith(".txt"))
        assert unquote(file.findtext("{DAV:}href")) == "/dav/box/" + odd
        assert file.find(".//{DAV:}displayname").text == odd
        meta = file.find(".//{urn:example}meta")  # found, though the folder before it has none
        assert meta.get("{urn:example}kind") == "a&b" and meta.get("plain") == "1"
        assert meta.findtext("{urn:example}tag") == "x < y" and meta.findtext("{urn:other}other") == "t"
    missing = [p for p in file.iter("{DAV:}propstat") if p.find("{DAV:}prop/{urn:example}missing") is not None]
    assert missing and "404" in missing[0].findtext("{DAV:}status")


def test_a_listing_of_10000_entries_is_written_as_it_is_read(dav, user):
    """The entries are read from the database as the answer goes out: the first piece
    comes with a fraction of them, and the request holds far less than the entries
    (as nodes and resources) or the answer would take whole."""
    home = tree.home_get(user=user)
    _bulk_files(user, tree.folder_create(user=user, parent=home, name="big"), 10_000)
    dav.propfind("/dav/", "0")  # the first sign-in of an app password records its use
    environ = RequestFactory().generic("PROPFIND", "/dav/big/", PROPFIND_ALL, content_type="application/xml",
                                       HTTP_DEPTH="1", HTTP_AUTHORIZATION=dav.auth).environ
    status, first, size, peak = served_measured(environ)
    assert status.startswith("207"), status
    assert first.count(b"<D:response>") < 1000
    assert size > 5 * MiB  # the whole answer (7 MiB) ...
    assert peak < 3 * MiB, f"{peak / MiB:.1f} MiB held"  # ... never held, nor the 10,000 entries


def test_over_quota_is_507_and_keeps_nothing(dav, user, auth_client):
    user.storage_quota = 1000
    user.save(update_fields=["storage_quota"])
    assert dav.put("/dav/fits.bin", b"a" * 600).status == 201
    answer = dav.put("/dav/too-big.bin", b"b" * 600)
    assert answer.status == 507, answer
    user.refresh_from_db()
    assert (user.storage_used, user.storage_reserved) == (600, 0)
    assert set(_listed(auth_client)) == {"fits.bin"}
    assert dav.copy("/dav/fits.bin", "/dav/copy.bin").status == 507  # a copy counts too


def test_the_api_and_dav_see_each_others_changes(dav, auth_client):
    folder = mkdir(auth_client, "Shared")
    upload(auth_client, "from-api.txt", b"hello", folder=folder["id"])
    assert dav.get("/dav/Shared/from-api.txt").body == b"hello"
    listing = dav.propfind("/dav/Shared/", "1")
    assert b"/dav/Shared/from-api.txt" in listing.body


def test_an_internal_error_is_a_plain_500_that_names_nothing(dav, monkeypatch):
    from dav import selectors

    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "home_get", broken)
    answer = dav.propfind("/dav/", "0")
    assert answer.status == 500 and b"secret internals" not in answer.body
