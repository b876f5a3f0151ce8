"""/remote.php/dav/files/{userid}/ and /remote.php/webdav/: the tree of /dav/ with
Nextcloud's properties and headers, the same files in every API, and nobody
else's tree by any path."""

import hashlib
import io
import zlib
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from accounts import services as accounts
from dav.tests.helpers import Dav
from files.models import FileVersion
from previews.models import Preview, PreviewStatus, PreviewType

pytestmark = pytest.mark.django_db

D, OC, NC = "{DAV:}", "{http://owncloud.org/ns}", "{http://nextcloud.org/ns}"
PROPS = ("d:getetag d:getlastmodified d:getcontentlength d:resourcetype oc:fileid oc:id oc:permissions oc:size "
         "oc:checksums oc:favorite nc:has-preview oc:owner-id oc:owner-display-name oc:share-types "
         "nc:upload_time d:quota-used-bytes")


def _propfind_body(props=PROPS) -> bytes:
    return ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" '
            'xmlns:nc="http://nextcloud.org/ns"><d:prop>' + "".join(f"<{p}/>" for p in props.split()) +
            "</d:prop></d:propfind>").encode()


def listing(dav, path, depth="1", props=PROPS) -> dict[str, dict]:
    """{href: {property tag: element}} of the properties found (200)."""
    answer = dav.propfind(path, depth, _propfind_body(props))
    assert answer.status == 207, answer
    entries = {}
    for response in ElementTree.fromstring(answer.body).iter(D + "response"):
        found = {}
        for propstat in response.iter(D + "propstat"):
            if "200" in propstat.findtext(D + "status"):
                found.update({prop.tag: prop for prop in propstat.find(D + "prop")})
        entries[response.findtext(D + "href")] = found
    return entries


def test_prefixes_are_nextcloud_s(nc_dav, base):
    """Libraries such as nc-py-api read `d:`, `oc:` and `nc:` literally."""
    body = nc_dav.propfind(base + "/", "0", _propfind_body()).body
    assert body.count(b"<d:response>") == 1 and b"<oc:fileid>" in body and b"<nc:has-preview>" in body
    assert b'xmlns:oc="http://owncloud.org/ns"' in body and b"NS1" not in body


def test_properties_of_files_and_folders(nc_dav, base, user):
    assert nc_dav.request("MKCOL", base + "/Photos").status == 201
    assert nc_dav.request("MKCOL", base + "/Photos/2026").status == 201
    assert nc_dav.put(base + "/Photos/2026/a.txt", b"a" * 300).status == 201
    assert nc_dav.put(base + "/Photos/b.txt", b"hello").status == 201
    entries = listing(nc_dav, base + "/Photos/")
    folder, sub, file = (entries[f"{base}/Photos/"], entries[f"{base}/Photos/2026/"],
                         entries[f"{base}/Photos/b.txt"])
    assert folder[OC + "size"].text == "305" and sub[OC + "size"].text == "300"  # every depth
    assert file[OC + "size"].text == file[D + "getcontentlength"].text == "5"
    assert folder[OC + "permissions"].text == "GDNVCK" and file[OC + "permissions"].text == "RGDNVW"
    assert listing(nc_dav, base + "/", "0")[base + "/"][OC + "permissions"].text == "GCK"
    fileid = int(file[OC + "fileid"].text)
    assert file[OC + "id"].text.startswith(f"{fileid:08d}oc") and len(file[OC + "id"].text) == 20
    assert [c.text for c in file[OC + "checksums"]] == ["SHA256:" + hashlib.sha256(b"hello").hexdigest()]
    assert OC + "checksums" not in folder
    assert file[OC + "favorite"].text == "0" and file[NC + "has-preview"].text == "false"
    assert file[OC + "owner-id"].text == user.username
    assert file[OC + "owner-display-name"].text == (user.full_name or user.username)
    assert len(file[OC + "share-types"]) == 0 and int(file[NC + "upload_time"].text) > 0
    assert D + "quota-used-bytes" in folder


def test_fileid_is_stable_through_rename_move_and_new_versions(nc_dav, base):
    nc_dav.request("MKCOL", base + "/x")
    created = nc_dav.put(base + "/a.txt", b"one")
    fileid = created.headers["OC-FileId"]
    assert nc_dav.put(base + "/a.txt", b"two").status == 204
    assert nc_dav.move(base + "/a.txt", base + "/x/b.txt").status == 201
    entry = listing(nc_dav, base + "/x/b.txt", "0")[base + "/x/b.txt"]
    assert entry[OC + "id"].text == fileid
    assert nc_dav.get(base + "/x/b.txt").body == b"two"


def test_put_and_mkcol_answer_file_id_and_etags(nc_dav, base):
    def check(answer, path):
        entry = listing(nc_dav, base + path, "0")[base + path]
        assert answer.headers["OC-FileId"] == entry[OC + "id"].text
        assert answer.headers["OC-ETag"].strip('"') == entry[D + "getetag"].text.strip('"')
        assert answer.headers["ETag"] == answer.headers["OC-ETag"]

    made = nc_dav.request("MKCOL", base + "/Docs")
    check(made, "/Docs/")
    put = nc_dav.put(base + "/Docs/n.txt", b"note")
    check(put, "/Docs/n.txt")
    assert put.headers["OC-ETag"] == '"%s"' % hashlib.sha256(b"note").hexdigest()
    # The folder's etag moved with the new file.
    assert listing(nc_dav, base + "/Docs/", "0")[base + "/Docs/"][D + "getetag"].text != \
        made.headers["OC-ETag"].strip('"')


def test_move_and_copy_answer_the_destinations_file_id_and_etags(nc_dav, base):
    """nc-py-api's move and copy read OC-FileId (and the etag) from the answer."""
    assert nc_dav.request("MKCOL", base + "/In").status == 201
    assert nc_dav.put(base + "/a.txt", b"alpha").status == 201
    moved = nc_dav.move(base + "/a.txt", base + "/In/b.txt")
    assert moved.status == 201
    copied = nc_dav.copy(base + "/In/b.txt", base + "/c.txt")
    assert copied.status == 201
    folder = nc_dav.move(base + "/In", base + "/Out")
    assert folder.status == 201
    for answer, path in ((moved, "/Out/b.txt"), (copied, "/c.txt"), (folder, "/Out/")):
        entry = listing(nc_dav, base + path, "0")[base + path]
        assert answer.headers["OC-FileId"] == entry[OC + "id"].text
        assert answer.headers["OC-ETag"].strip('"') == entry[D + "getetag"].text.strip('"')
        assert answer.headers["ETag"] == answer.headers["OC-ETag"]
    assert moved.headers["OC-FileId"] != copied.headers["OC-FileId"]  # the copy is a file of its own
    assert copied.headers["OC-ETag"] == '"%s"' % hashlib.sha256(b"alpha").hexdigest()
    # Over an existing file: 204, the file there now.
    assert nc_dav.put(base + "/d.txt", b"delta").status == 201
    over = nc_dav.copy(base + "/c.txt", base + "/d.txt")
    assert over.status == 204
    assert over.headers["OC-ETag"] == '"%s"' % hashlib.sha256(b"alpha").hexdigest()


def test_a_download_answers_the_checksum_its_upload_came_with(nc_dav, base):
    """As Nextcloud: the OC-Checksum the client uploaded with, none for other content."""
    checksum = "SHA1:" + hashlib.sha1(b"with").hexdigest()
    assert nc_dav.put(base + "/with.txt", b"with", HTTP_OC_CHECKSUM=checksum).status == 201
    assert nc_dav.get(base + "/with.txt").headers["OC-Checksum"] == checksum
    assert nc_dav.request("HEAD", base + "/with.txt").headers["OC-Checksum"] == checksum
    assert nc_dav.put(base + "/without.txt", b"without").status == 201
    assert not nc_dav.get(base + "/without.txt").headers.has_header("OC-Checksum")
    assert nc_dav.put(base + "/with.txt", b"changed").status == 204  # new content, no checksum with it
    assert not nc_dav.get(base + "/with.txt").headers.has_header("OC-Checksum")


def test_a_download_costs_one_query_more_than_at_dav(nc_dav, base, user):
    """The desktop app GETs every file it syncs down: beside /dav/'s, a GET here reads the
    time and the checksum its client uploaded it with, in one query (the path is walked
    once)."""
    checksum = f"Adler32:{zlib.adler32(b'timed'):x}"
    assert nc_dav.put(base + "/timed.txt", b"timed", HTTP_OC_CHECKSUM=checksum,
                      HTTP_X_OC_MTIME="1700000000").status == 201
    nc_dav.get(base + "/timed.txt")  # sign-in cache warm
    with CaptureQueriesContext(connection) as at_dav:
        assert nc_dav.get("/dav/timed.txt").body == b"timed"
    with CaptureQueriesContext(connection) as here:
        answer = nc_dav.get(base + "/timed.txt")
    assert answer.body == b"timed" and answer.headers["OC-Checksum"] == checksum
    assert "14 Nov 2023" in answer.headers["Last-Modified"]
    assert len(here.captured_queries) == len(at_dav.captured_queries) + 1


def test_adler32_as_the_desktop_app_writes_it(nc_dav, base):
    """The desktop app writes Adler-32 without leading zeros; it gets it back as it wrote it."""
    checksum = f"Adler32:{zlib.adler32(b'abc'):x}"
    assert checksum == "Adler32:24d0127"
    assert nc_dav.put(base + "/abc.txt", b"abc", HTTP_OC_CHECKSUM=checksum).status == 201
    assert nc_dav.get(base + "/abc.txt").headers["OC-Checksum"] == checksum
    wrong = nc_dav.put(base + "/abd.txt", b"abd", HTTP_OC_CHECKSUM=checksum)
    assert wrong.status == 400 and nc_dav.get(base + "/abd.txt").status == 404  # nothing kept


def test_favorite_is_the_star_of_the_other_apis(nc_dav, base, auth_client):
    nc_dav.put(base + "/fav.txt", b"x")
    item = auth_client.get("/api/files/list").json()["data"]["items"][0]
    assert auth_client.post(f"/api/files/{item['id']}/star", {"starred": True}, format="json").status_code == 200
    assert listing(nc_dav, base + "/fav.txt", "0")[base + "/fav.txt"][OC + "favorite"].text == "1"
    unset = ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:set>'
             '<d:prop><oc:favorite>0</oc:favorite></d:prop></d:set></d:propertyupdate>').encode()
    assert nc_dav.request("PROPPATCH", base + "/fav.txt", unset, content_type="application/xml").status == 207
    assert auth_client.get("/api/files/list?starred=true").json()["data"]["items"] == []
    assert listing(nc_dav, base + "/", "1")[base + "/fav.txt"][OC + "favorite"].text == "0"


def test_has_preview_once_a_thumbnail_is_ready(nc_dav, base):
    image = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(image, "PNG")
    assert nc_dav.put(base + "/p.png", image.getvalue(), content_type="image/png").status == 201
    blob = FileVersion.objects.get(node__name="p.png").blob_id
    ready = Preview.objects.filter(blob_id=blob, preview_type=PreviewType.THUMBNAIL, status=PreviewStatus.READY)
    if not ready.exists():  # made by the background pipeline; here, as if it had finished
        Preview.objects.update_or_create(blob_id=blob, preview_type=PreviewType.THUMBNAIL,
                                         defaults={"status": PreviewStatus.READY})
    assert listing(nc_dav, base + "/", "1")[base + "/p.png"][NC + "has-preview"].text == "true"
    Preview.objects.filter(blob_id=blob).update(status=PreviewStatus.PENDING)
    assert listing(nc_dav, base + "/p.png", "0")[base + "/p.png"][NC + "has-preview"].text == "false"


def test_the_same_files_as_dav_and_the_api(nc_dav, base, user, auth_client):
    nc_dav.put(base + "/same.txt", b"same bytes")
    assert nc_dav.get("/dav/same.txt").body == b"same bytes"
    assert nc_dav.get("/remote.php/webdav/same.txt").body == b"same bytes"
    assert [i["name"] for i in auth_client.get("/api/files/list").json()["data"]["items"]] == ["same.txt"]
    legacy = listing(nc_dav, "/remote.php/webdav/", "1")
    assert set(legacy) == {"/remote.php/webdav/", "/remote.php/webdav/same.txt"}
    assert nc_dav.move("/remote.php/webdav/same.txt", "/remote.php/webdav/moved.txt").status == 201
    assert nc_dav.get(base + "/moved.txt").body == b"same bytes"


def test_a_listing_costs_the_same_queries_for_few_or_many(nc_dav, base):
    counts = []
    for n in (3, 30):
        nc_dav.request("MKCOL", f"{base}/d{n}")
        for i in range(n):
            nc_dav.put(f"{base}/d{n}/f{i}.txt", b"x")
            nc_dav.request("MKCOL", f"{base}/d{n}/sub{i}")
        with CaptureQueriesContext(connection) as queries:
            assert len(listing(nc_dav, f"{base}/d{n}/")) == 2 * n + 1
        counts.append(len(queries))
    assert counts[0] == counts[1]


METHODS = [("PROPFIND", {"HTTP_DEPTH": "1"}), ("GET", {}), ("PUT", {}), ("MKCOL", {}), ("DELETE", {}),
           ("PROPPATCH", {}), ("LOCK", {}), ("MOVE", {}), ("COPY", {})]


@pytest.mark.parametrize("method, headers", METHODS)
def test_another_users_id_is_refused_by_every_method(nc_dav, other_user, method, headers):
    other = Dav(other_user.username, accounts.app_password_create(user=other_user, name="phone")[1])
    other.put(f"/remote.php/dav/files/{other_user.username}/secret.txt", b"theirs")
    target = f"/remote.php/dav/files/{other_user.username}/secret.txt"
    answer = nc_dav.request(method, target, b"", HTTP_DESTINATION="http://testserver/x", **headers)
    assert answer.status == 403 and b"theirs" not in answer.body
    assert other.get(target).body == b"theirs"


def test_a_destination_in_another_users_tree_is_refused(nc_dav, base, other_user):
    nc_dav.put(base + "/mine.txt", b"mine")
    for destination in (f"/remote.php/dav/files/{other_user.username}/mine.txt", "/dav/mine.txt"):
        answer = nc_dav.copy(base + "/mine.txt", destination)
        assert answer.status == 403
    assert other_user.nodes.filter(name="mine.txt").count() == 0


def test_signing_in_is_required(user, base):
    assert Dav(user.username, "wrong").propfind(base + "/", "0").status == 401
    assert Dav(user.username, "wrong").propfind("/remote.php/webdav/", "0").status == 401


def test_x_oc_mtime_is_kept_for_that_content(nc_dav, base, user, app_password):
    put = nc_dav.put(base + "/m.txt", b"old", HTTP_X_OC_MTIME="1700000000")
    assert put.status == 201 and put.headers["X-OC-MTime"] == "accepted"
    stamp = "Tue, 14 Nov 2023 22:13:20 GMT"
    assert listing(nc_dav, base + "/m.txt", "0")[base + "/m.txt"][D + "getlastmodified"].text == stamp
    assert listing(nc_dav, base + "/", "1")[base + "/m.txt"][D + "getlastmodified"].text == stamp
    assert nc_dav.get(base + "/m.txt").headers["Last-Modified"] == stamp
    assert nc_dav.put(base + "/m.txt", b"newer", HTTP_X_OC_MTIME="1700000100.5").headers["X-OC-MTime"] == "accepted"
    assert listing(nc_dav, base + "/m.txt", "0")[base + "/m.txt"][D + "getlastmodified"].text == \
        "Tue, 14 Nov 2023 22:15:00 GMT"
    # New content from elsewhere: the client's time no longer describes it.
    assert Dav(user.username, app_password).put("/dav/m.txt", b"from elsewhere").status == 204
    assert "2023" not in listing(nc_dav, base + "/m.txt", "0")[base + "/m.txt"][D + "getlastmodified"].text


@pytest.mark.parametrize("value", ["yesterday", "nan", "-5", "1e20", ""])
def test_a_bad_x_oc_mtime_is_400_and_stores_nothing(nc_dav, base, value, auth_client):
    answer = nc_dav.put(base + "/bad.txt", b"bytes", HTTP_X_OC_MTIME=value)
    assert answer.status == 400 and b"X-OC-Mtime" in answer.body
    assert auth_client.get("/api/files/list").json()["data"]["items"] == []
    assert auth_client.get("/api/user/storage-stats").json()["data"]["reserved"] == 0


def test_a_name_sent_decomposed_finds_the_file(nc_dav, base, user, app_password):
    """Names are stored composed (NFC); the desktop app on Linux sends them as the disk has them."""
    decomposed = "/Re\u0301sume\u0301.txt"
    put = nc_dav.put(base + decomposed, b"cv", HTTP_X_OC_MTIME="1700000100")
    assert put.status == 201 and put.headers["X-OC-MTime"] == "accepted" and "OC-FileId" in put.headers
    assert nc_dav.get(base + decomposed).body == b"cv"
    assert Dav(user.username, app_password).get("/dav/R\u00e9sum\u00e9.txt").body == b"cv"


def test_a_chunked_upload_v1_chunk_is_refused_and_nothing_kept(nc_dav, base, auth_client):
    answer = nc_dav.put(base + "/big.bin-chunking-4711-3-0", b"part", HTTP_OC_CHUNKED="1")
    assert answer.status == 501 and b"chunked upload v2" in answer.body
    assert auth_client.get("/api/files/list").json()["data"]["items"] == []
