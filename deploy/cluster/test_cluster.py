"""Past one machine (`make cluster-test`): two gunicorn nodes behind nginx, two Celery
workers, PostgreSQL, Redis and a SeaweedFS cluster (deploy/cluster/cluster.py), driven
through HTTP as clients would. Each scenario ends with `check_invariants` clean, every
file a client got a 2xx for downloading whole.

The scenarios share one cluster and run in order; one that kills a part starts it again.
CLUSTER_DATABASE_URL names the PostgreSQL database to use (created empty, dropped after);
CLUSTER_KEEP=1 keeps the logs and data folder.
"""

import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from urllib.parse import urlparse

import pytest
import requests
from cluster import Cluster, database_create, database_drop, database_with_name, scratch_dir
from PIL import Image
from tusclient import client as tus_client

from storage_site.testing.faults import gate_setup

MiB = 1024 * 1024
DATABASE_URL = os.environ.get("CLUSTER_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stratus_cluster")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="module")
def cluster():
    # The parts run in sessions of their own: a SIGTERM (CI's time limit) must still reach the
    # teardown below, which stops them, rather than end this process alone.
    signal.signal(signal.SIGTERM, _interrupt)
    root = scratch_dir()
    database_create(DATABASE_URL)
    running = Cluster(root, DATABASE_URL)
    running.users = {}  # name → User, signed in once
    try:
        yield running.start()
    finally:
        running.stop()
        database_drop(DATABASE_URL)
        if os.environ.get("CLUSTER_KEEP"):
            print(f"cluster logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


class User:
    """One account, signed in once (StreamVault v5, on node A); its bearer token works on every node."""

    def __init__(self, cluster: Cluster, name: str):
        self.cluster, self.name = cluster, name
        password = "cluster-Passw0rd!"
        self.post("a", "/storage/api/v5/register/", expect=201, auth=False,
                  json={"email": f"{name}@example.com", "username": name, "password": password})
        tokens = self.post("a", "/storage/api/v5/login/", auth=False,
                           json={"email": f"{name}@example.com", "password": password}).json()
        self.headers = {"Authorization": f"Bearer {tokens['access']}"}
        cluster.users[name] = self

    def request(self, node: str, method: str, path: str, *, expect: int | None = 200, auth: bool = True,
                **kwargs) -> requests.Response:
        headers = {**(self.headers if auth else {}), **kwargs.pop("headers", {})}
        resp = requests.request(method, self.cluster.url(node) + path, headers=headers, timeout=120, **kwargs)
        assert expect is None or resp.status_code == expect, (node, method, path, resp.status_code, resp.text[:500])
        return resp

    def get(self, node, path, **kwargs):
        return self.request(node, "GET", path, **kwargs)

    def post(self, node, path, **kwargs):
        return self.request(node, "POST", path, **kwargs)

    def upload(self, node: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> dict:
        file = self.post(node, "/api/files/upload", expect=201,
                         files={"file": (name, io.BytesIO(data), content_type)}).json()["data"]
        self.ok(file["id"], data)
        return file

    def download(self, node: str, file_id: str) -> bytes:
        return self.get(node, f"/api/files/{file_id}/download").content

    def ok(self, file_id, data: bytes) -> None:
        """A file the client got a 2xx for: every later invariants check downloads it."""
        self.cluster.files_ok.append({"user": self.name, "id": str(file_id), "sha256": sha(data)})

    def named(self, node: str, name: str) -> dict:
        [found] = [item for item in self.get(node, "/api/search", params={"q": name}).json()["data"]["items"]
                   if item["name"] == name]
        return found


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def alice(cluster):
    return User(cluster, "alice")


@pytest.fixture(scope="module")
def bob(cluster):
    return User(cluster, "bob")


def _all_files_download(cluster: Cluster, nodes=("a", "b", "proxy")) -> None:
    """Every file any client got a 2xx for, in turn through each node, with its bytes."""
    for number, item in enumerate(cluster.files_ok):
        user = cluster.users[item["user"]]
        node = nodes[number % len(nodes)]
        body = user.get(node, f"/api/files/{item['id']}/download").content
        assert sha(body) == item["sha256"], (node, item)


# --- StreamVault chunked uploads ---------------------------------------------------------

def _chunk_init(user, node, name, total) -> str:
    return user.post(node, "/storage/api/v3/chunk_init/", json={"file_name": name, "total_chunks": total}
                     ).json()["upload_id"]


def _chunk_send(user, node, upload_id, number, data) -> None:
    user.post(node, "/storage/api/v3/chunk_upload/", data={"upload_id": upload_id, "chunk_number": number},
              files={"file": ("blob", io.BytesIO(data), "application/octet-stream")})


def _chunk_complete(user, node, upload_id, timeout: float = 90) -> dict:
    """`complete` again and again, as a client does, until the file is there."""
    deadline = time.monotonic() + timeout
    while True:
        resp = user.post(node, "/storage/api/v3/chunk_complete/", json={"upload_id": upload_id}, expect=None)
        if resp.status_code == 200:
            return resp.json()
        assert resp.status_code == 202 and resp.json()["status"] == "assembling", resp.text
        assert time.monotonic() < deadline, "the assembly never finished"
        time.sleep(0.5)


# --- the scenarios -------------------------------------------------------------------------

def test_upload_on_a_then_list_download_search_and_sync_on_b(cluster, alice, bob):
    first_sync = alice.get("b", "/api/mobile/sync/status").json()["data"]
    data = os.urandom(3 * MiB + 17)  # one S3 object
    big = os.urandom(9 * MiB)  # an S3 multipart upload through node A
    file = alice.upload("a", "report-from-a.bin", data)
    large = alice.upload("a", "large-from-a.bin", big)

    listed = alice.get("b", "/api/files/list", params={"pageSize": 100}).json()["data"]["items"]
    assert {"report-from-a.bin", "large-from-a.bin"} <= {item["name"] for item in listed}
    assert alice.download("b", file["id"]) == data
    assert alice.download("proxy", large["id"]) == big
    assert alice.named("b", "report-from-a.bin")["id"] == file["id"]
    ranged = alice.get("b", f"/api/files/{large['id']}/download", headers={"Range": "bytes=10-19"},
                       expect=206)
    assert ranged.content == big[10:20]

    delta = alice.get("b", "/api/mobile/sync/status", params={"syncToken": first_sync["nextSyncToken"]}
                      ).json()["data"]
    assert {item["id"] for item in delta["changes"]["created"]} >= {file["id"], large["id"]}
    # The admin's static files are on every node (each collects its own into its DATA_DIR).
    for node in ("a", "b"):
        assert requests.get(cluster.url(node) + "/static/admin/css/base.css", timeout=30).status_code == 200
    # Bob, on the other node, cannot reach Alice's file.
    bob.get("b", f"/api/files/{file['id']}/download", expect=404)
    bob.get("a", f"/api/files/{file['id']}/info", expect=404)
    cluster.invariants()


def test_chunked_upload_half_on_a_then_a_killed_and_the_rest_on_b(cluster, alice):
    chunks = [os.urandom(MiB) for _ in range(4)] + [os.urandom(1000)]
    upload_id = _chunk_init(alice, "a", "chunked-a-then-b.bin", len(chunks))
    for number in (1, 2):
        _chunk_send(alice, "a", upload_id, number, chunks[number - 1])
    cluster.processes["a"].kill()
    try:
        for number in (3, 4, 5):
            _chunk_send(alice, "b", upload_id, number, chunks[number - 1])
        done = _chunk_complete(alice, "b", upload_id)
        file = alice.named("b", "chunked-a-then-b.bin")
        assert isinstance(done["file_id"], int)  # StreamVault's id of the file
        data = b"".join(chunks)
        alice.ok(file["id"], data)
        assert alice.download("proxy", file["id"]) == data  # nginx passes over the dead node
    finally:
        cluster.node_start("a")
    cluster.invariants()


class _BodyThatKills(io.RawIOBase):
    """A request body that kills a node once half of it has been sent: the node dies
    while it is reading the chunk."""

    def __init__(self, data: bytes, victim):
        super().__init__()
        self.data, self.victim, self.sent = data, victim, 0

    def __len__(self):
        return len(self.data)

    def readable(self):
        return True

    def read(self, size=-1):
        if self.sent >= len(self.data) // 2 and self.victim.alive:
            self.victim.kill()
        size = len(self.data) - self.sent if size is None or size < 0 else min(size, 64 * 1024)
        piece = self.data[self.sent:self.sent + size]
        self.sent += len(piece)
        return piece


def test_node_killed_in_the_middle_of_a_chunk_the_client_sends_it_again_to_the_other(cluster, alice):
    data = os.urandom(2 * MiB + 1000)
    started = alice.post("b", "/api/mobile/upload/init", json={"files": [{
        "localId": "local-kill", "name": "chunk-cut-off.mp4", "size": len(data), "mimeType": "video/mp4"}],
        "uploadOptions": {"chunkSize": MiB}}).json()["data"]
    [file] = started["files"]
    chunk = {item["index"]: data[item["start"]:item["end"] + 1] for item in file["chunks"]}
    params = {"uploadId": file["uploadId"]}
    octets = {"Content-Type": "application/octet-stream"}
    alice.request("a", "PUT", "/api/mobile/upload/chunk", data=chunk[0], params={**params, "index": 0}, headers=octets)
    try:
        with pytest.raises(requests.ConnectionError):
            requests.put(cluster.url("a") + "/api/mobile/upload/chunk", params={**params, "index": 1}, timeout=60,
                         data=_BodyThatKills(chunk[1], cluster.processes["a"]), headers={**alice.headers, **octets})
        assert not cluster.processes["a"].alive
        status = alice.get("b", f"/api/mobile/upload/{file['uploadId']}").json()["data"]
        assert status["completedChunks"] == [0], status  # never half a chunk
        for index in (1, 2):
            alice.request("b", "PUT", "/api/mobile/upload/chunk", data=chunk[index],
                          params={**params, "index": index}, headers=octets)
        alice.post("proxy", "/api/mobile/upload/complete", json={"uploadId": file["uploadId"]})
    finally:
        cluster.node_start("a")
    uploaded = alice.named("a", "chunk-cut-off.mp4")
    alice.ok(uploaded["id"], data)
    assert alice.download("a", uploaded["id"]) == data
    cluster.invariants()


def test_megavault_chunks_and_a_fileago_upload_token_across_nodes(cluster, alice):
    """MegaVault: init on B, chunks in any order through A, B and nginx, complete on A.
    FileAgo: an upload token issued by A spent on B (it lives in the database)."""
    data = os.urandom(2 * MiB + 1000)
    started = alice.post("b", "/api/mobile/upload/init", json={"files": [{
        "localId": "local-1", "name": "mobile-across.mp4", "size": len(data), "mimeType": "video/mp4",
        "checksum": "sha256:" + sha(data)}], "uploadOptions": {"chunkSize": MiB}}).json()["data"]
    [file] = started["files"]
    for chunk, node in zip(reversed(file["chunks"]), ("a", "proxy", "b")):
        alice.request(node, "PUT", "/api/mobile/upload/chunk", data=data[chunk["start"]:chunk["end"] + 1],
                      params={"uploadId": file["uploadId"], "index": chunk["index"]},
                      headers={"Content-Type": "application/octet-stream"})
    alice.post("a", "/api/mobile/upload/complete", json={"uploadId": file["uploadId"]})
    mobile = alice.named("proxy", "mobile-across.mp4")
    alice.ok(mobile["id"], data)
    assert alice.download("b", mobile["id"]) == data

    token = alice.get("a", "/api/nodes/home/upload").json()["token"]
    page = b"uploaded with a token from node A"
    answer = alice.post("b", f"/upload/{token}", auth=False,
                        files={"file": ("fileago-across.txt", io.BytesIO(page), "text/plain")}).json()
    assert answer["status"] == "success"
    uploaded = alice.named("a", "fileago-across.txt")
    alice.ok(uploaded["id"], page)
    assert alice.download("proxy", uploaded["id"]) == page
    cluster.invariants()


def test_tus_upload_started_on_b_resumed_on_a(cluster, alice):
    data = os.urandom(2 * MiB + 5)
    started = tus_client.TusClient(cluster.url("b") + "/api/tus/", headers=alice.headers).uploader(
        file_stream=io.BytesIO(data), chunk_size=512 * 1024, metadata={"filename": "tus-b-then-a.bin"})
    started.upload(stop_at=MiB)  # the client stops after two chunks
    path = urlparse(started.url).path
    resumed = tus_client.TusClient(cluster.url("a") + "/api/tus/", headers=alice.headers).uploader(
        file_stream=io.BytesIO(data), chunk_size=512 * 1024, url=cluster.url("a") + path)
    assert resumed.offset == MiB  # node A knows how far node B got
    resumed.upload()
    file_id = resumed.request.response_headers["stratus-file-id"]
    alice.ok(file_id, data)
    assert alice.download("b", file_id) == data
    cluster.invariants()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (640, 400), (200, 40, 40))
    image.paste((30, 90, 200), (0, 0, 320, 200))
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_qr_codes_share_links_previews_and_throttles_through_either_node(cluster, alice):
    # A QR code asked through B is served by A and B alike (the image lives in the bucket).
    folder = alice.post("a", "/storage/api/v3/folders/", json={"name": "Album", "description": ""},
                        expect=201).json()
    qr_url = alice.get("b", f"/storage/api/v3/qr/{folder['token']}/", auth=False).json()["qr_url"]
    images = [alice.get(node, urlparse(qr_url).path, auth=False) for node in ("a", "b")]
    assert all(image.headers["Content-Type"] == "image/png" for image in images)
    assert images[0].content == images[1].content and images[0].content.startswith(b"\x89PNG")
    # Links follow the proxy's X-Forwarded-Proto (TLS ends there); nginx replaces a client's own.
    qr_path, https = f"/storage/api/v3/qr/{folder['token']}/", {"X-Forwarded-Proto": "https"}
    assert alice.get("a", qr_path, auth=False, headers=https).json()["qr_url"].startswith("https://127.0.0.1:")
    assert alice.get("proxy", qr_path, auth=False, headers=https).json()["qr_url"].startswith("http://127.0.0.1:")

    # A share link made on B opens, unlocks and downloads on A and back on B.
    photo = _jpeg()
    file = alice.upload("a", "holiday.jpg", photo, content_type="image/jpeg")
    link = alice.post("b", f"/api/files/{file['id']}/share", json={"password": "open sesame"},
                      expect=201).json()["data"]
    alice.get("a", f"/api/public/shares/{link['token']}", auth=False)
    grant = alice.post("a", f"/api/public/shares/{link['token']}/unlock", json={"password": "open sesame"},
                       auth=False).json()["data"]["grant"]
    fetched = alice.get("b", f"/api/public/shares/{link['token']}/download", params={"grant": grant}, auth=False)
    assert fetched.content == photo

    # Previews: made by whichever worker, served by either node.
    deadline = time.monotonic() + 120
    while (info := alice.get("b", f"/api/files/{file['id']}/preview-info").json()["data"])["status"] != "ready":
        assert info["status"] in ("pending", "processing"), info
        assert time.monotonic() < deadline, "the preview was never made"
        time.sleep(0.5)
    thumbnails = [alice.get(node, f"/api/files/{file['id']}/preview/thumbnail").content for node in ("a", "b")]
    assert thumbnails[0] == thumbnails[1] and Image.open(io.BytesIO(thumbnails[0])).size[0] <= 256

    # The unlock throttle (4 a minute per address) counts across the nodes: the right password
    # above and three wrong ones, alternately on A and B, spend it; each node alone saw two.
    for node in ("a", "b", "a"):
        alice.post(node, f"/api/public/shares/{link['token']}/unlock", json={"password": "guess"}, auth=False,
                   expect=401)
    refused = alice.post("b", f"/api/public/shares/{link['token']}/unlock", json={"password": "open sesame"},
                         auth=False, expect=429)
    assert refused.json()["error"]["code"] == "RATE_LIMITED" and int(refused.headers["Retry-After"]) >= 1
    cluster.invariants()


def test_worker_killed_in_the_middle_of_an_assembly_the_other_finishes_it(cluster, alice):
    """Worker 1 alone takes the assembly and is held after S3 completed the multipart upload;
    then worker 2 starts and worker 1 dies whole. Once its lease runs out, the client's next
    `complete` queues the assembly again and worker 2 finishes it, once."""
    gate = cluster.root / "gate"
    gate.mkdir()
    cluster.processes["worker2"].stop()
    cluster.processes["worker1"].stop()
    first = cluster.worker_start("worker1", setup=gate_setup("files.uploads.assembly:_read_back", str(gate)))
    chunks = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1000)]  # over the inline limit (8 MiB)
    try:
        upload_id = _chunk_init(alice, "b", "assembled-by-the-other.bin", len(chunks))
        # Last first, on alternate nodes: a chunk ahead of a gap waits on the node that took it,
        # so the running hash stops after chunk 1 and the assembly reads the rest back to
        # verify it (the step the gate stops at); chunks sent in order, or all to one node,
        # are hashed as they arrive and complete in the request instead.
        for number, chunk in reversed(list(enumerate(chunks, start=1))):
            _chunk_send(alice, "ab"[number % 2], upload_id, number, chunk)
        resp = alice.post("a", "/storage/api/v3/chunk_complete/", json={"upload_id": upload_id}, expect=202)
        assert resp.json()["status"] == "assembling"
        deadline = time.monotonic() + 60
        while not (gate / "entered").exists():
            assert first.alive and time.monotonic() < deadline, "worker 1 never reached the gate"
            time.sleep(0.1)
        cluster.worker_start("worker2")
        first.kill()
        _chunk_complete(alice, "b", upload_id, timeout=90)
    finally:
        (gate / "release").touch()
        if first.alive:  # the test failed before killing it: the cluster's stop no longer knows it
            first.kill()
        if not cluster.processes["worker2"].alive:
            cluster.worker_start("worker2")
        cluster.worker_start("worker1")
    data = b"".join(chunks)
    file = alice.named("a", "assembled-by-the-other.bin")
    versions = alice.get("a", f"/api/files/{file['id']}/versions").json()["data"]
    assert [version["number"] for version in versions] == [1]
    alice.ok(file["id"], data)
    assert alice.download("proxy", file["id"]) == data
    cluster.invariants()


def _volumes(cluster) -> dict[int, dict[int, int]]:
    """Which volumes each volume server holds, and how many files in each (weed shell
    `volume.list`): {server index: {volume id: file count}}."""
    servers, current = {}, None
    for line in cluster.weed.shell("volume.list\n").splitlines():
        if node := re.search(r"DataNode 127\.0\.0\.1:(\d+)", line):
            current = servers.setdefault(cluster.weed.volume_ports.index(int(node[1])), {})
        elif volume := re.search(r"volume Id:(\d+),.*FileCount:(\d+)", line):
            current[int(volume[1])] = int(volume[2])
    return servers


def _busiest(servers: dict[int, dict[int, int]], besides: int | None = None) -> int:
    """The volume server holding the most files (other than `besides`)."""
    return max((index for index in servers if index != besides), key=lambda index: sum(servers[index].values()))


def test_volume_server_killed_files_download_uploads_succeed_and_it_catches_up(cluster, alice):
    lost = _busiest(_volumes(cluster))
    cluster.weed.volume_kill(lost)
    try:
        _all_files_download(cluster)  # every file has its other copy
        for n in range(4):
            alice.upload("ab"[n % 2], f"while-a-volume-is-down-{n}.bin", os.urandom(MiB + n))
    finally:
        cluster.weed.volume_start(lost)
    # Back with its volumes: once the master hears from it, every volume has its two copies
    # (volume.fix.replication copies whatever would still have one).
    deadline = time.monotonic() + 90
    while True:
        servers = _volumes(cluster)
        copies = Counter(volume for volumes in servers.values() for volume in volumes)
        if lost in servers and set(copies.values()) == {2}:
            break
        assert time.monotonic() < deadline, f"the copies never came back: {servers}"
        cluster.weed.shell("lock\nvolume.fix.replication\nunlock\n")
        time.sleep(2)
    # So another one may go now: everything, old and new, still downloads.
    other = _busiest(servers, besides=lost)
    cluster.weed.volume_kill(other)
    try:
        _all_files_download(cluster)
    finally:
        cluster.weed.volume_start(other)
    cluster.invariants()


def test_backup_and_restore_drill(cluster, alice):
    """The drill of docs/operations.md: dump the database, restore it into a new database
    beside the bucket, and the invariants hold there, every file downloading."""
    dump = cluster.root / "stratus.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), DATABASE_URL], check=True)
    name = urlparse(DATABASE_URL).path.lstrip("/")
    restored = database_with_name(DATABASE_URL, f"{name}_restore")
    database_create(restored)
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", restored, str(dump)], check=True)
        cluster.invariants(database_url=restored)
    finally:
        database_drop(restored)
    cluster.invariants()


def test_everything_stopped_and_started_again_loses_nothing(cluster, alice):
    # An upload under way and a phone's sync position, from before the stop.
    upload_id = _chunk_init(alice, "a", "across-the-restart.bin", 2)
    chunks = [os.urandom(MiB), os.urandom(1000)]
    _chunk_send(alice, "a", upload_id, 1, chunks[0])
    position = alice.get("b", "/api/mobile/sync/status").json()["data"]["nextSyncToken"]
    before = alice.get("proxy", "/api/user/storage-stats").json()["data"]
    cluster.stop()
    assert not any(process.alive for process in cluster.processes.values())
    assert not any(process.poll() is None for process in cluster.weed.processes.values())
    cluster.start()
    assert alice.get("proxy", "/api/user/storage-stats").json()["data"] == before  # the same token still works
    _all_files_download(cluster)

    _chunk_send(alice, "b", upload_id, 2, chunks[1])
    _chunk_complete(alice, "proxy", upload_id)
    file = alice.named("a", "across-the-restart.bin")
    alice.ok(file["id"], b"".join(chunks))
    delta = alice.get("b", "/api/mobile/sync/status", params={"syncToken": position}).json()["data"]
    assert [item["id"] for item in delta["changes"]["created"]] == [file["id"]]
    cluster.invariants()
