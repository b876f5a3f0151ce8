"""A web server killed (SIGKILL) in the middle of an upload holds no quota for good
(issue 20, item 1): a real gunicorn worker and a real `runserver` die while they read
a plain upload, a StreamVault chunk, a tus PATCH and a bulk-upload file. Afterwards
nothing is visible, the periodic sweep gives back what the dead request held (its
hold's lease ran out), usage and reservations are exact, the retry works and the
storage invariants (`check_invariants --reconcile`) hold.

The server process runs the test's gate (storage_site.testing.faults): the first call
of the function that takes the body's bytes stops there, so the test knows the
server is inside the upload when it kills it.
"""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from accounts.models import QuotaHold
from accounts.tasks import quota_holds_expire_task
from files.tests import test_bulk_upload as bulk
from files.tests import test_chunks_streamvault as sv
from files.tests import test_tus as tus
from files.tests.helpers import download, sha, usage
from storage_site.testing.invariants import assert_storage_invariants, leftovers_clear
from storage_site.testing.faults import process_kill
from storage_site.tests.test_faults_crashes import _files_named, _multipart, gate  # noqa: F401 (fixture)

MiB = 1024 * 1024
LEASE = 2  # seconds: QUOTA_HOLD_LEASE_SECONDS of the servers and of the sweep in this process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def web_server(transactional_db, settings, tmp_path):
    """`web_server(kind, setup="")` starts `gunicorn` (deploy/gunicorn.conf.py, one
    worker) or `runserver` on the test database and bucket, runs `setup` in it first
    and returns (process, port) once it answers; every server is stopped at the end."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        pytest.skip("a server process cannot share the in-memory SQLite test database")
    if settings.STORAGE_BACKEND != "s3":
        pytest.skip("the server process shares storage with the tests only through S3")
    options = settings.STORAGES["default"]["OPTIONS"]
    env = {**os.environ, "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "WEB_THREADS": "2",
           "DATA_DIR": str(tmp_path / "server"), "STORAGE_BACKEND": "s3",
           "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "AWS_S3_ENDPOINT_URL": options["endpoint_url"] or "", "AWS_ACCESS_KEY_ID": options["access_key"] or "",
           "AWS_SECRET_ACCESS_KEY": options["secret_key"] or "", "AWS_STORAGE_BUCKET_NAME": options["bucket_name"],
           "QUOTA_HOLD_LEASE_SECONDS": str(LEASE), "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "false",
           "SECRET_KEY": settings.SECRET_KEY}  # the tokens the tests sign in with
    settings.QUOTA_HOLD_LEASE_SECONDS = LEASE
    servers = []

    def start(kind: str, *, setup: str = ""):
        port = _free_port()
        if kind == "gunicorn":
            args = ["gunicorn", "-c", "deploy/gunicorn.conf.py", "storage_site.wsgi"]
            main = "from gunicorn.app.wsgiapp import run as main"
        else:
            args = ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
            main = "from django.core.management import execute_from_command_line\nmain = lambda: " \
                   "execute_from_command_line(sys.argv)"
        code = f"{setup}\nimport sys\n{main}\nsys.argv = {args!r}\nsys.exit(main())"
        log = open(tmp_path / f"{kind}-{port}.log", "wb")
        process = subprocess.Popen([sys.executable, "-c", code], cwd=django_settings.BASE_DIR, stdout=log,
                                   stderr=subprocess.STDOUT, env={**env, "WEB_PORT": str(port)})
        servers.append(process)
        deadline = time.monotonic() + 90
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"{kind} did not start:\n" + (tmp_path / f"{kind}-{port}.log").read_text()[-3000:])
            time.sleep(0.3)
        return process, port

    yield start
    for process in servers:
        process.terminate()
    for process in servers:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _request(port: int, client, method: str, path: str, body: bytes, content_type: str, *,
             sent: int | None = None, headers: dict | None = None):
    """Send a request declaring the whole body; with `sent`, only that much of it, leaving
    the connection open (the caller kills the server). Otherwise (status, JSON answer)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {client.sign_in.access}\r\n"
                 f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
                 .encode() + body[:sent])
    if sent is not None:
        return sock
    with sock:
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload or b"{}")


MULTIPART = "multipart/form-data; boundary=StratusCutShort"


class Door:
    """One way in: what it prepares through the API, the request the server dies in, and
    the check that the retry made the file."""

    gate = "files.uploads.http:StorageUploadHandler.receive_data_chunk"
    name = "clip.bin"

    def __init__(self, client):
        self.client = client
        self.data = os.urandom(6 * MiB + 123)

    def prepare(self) -> None:
        pass

    def request(self) -> tuple[str, str, bytes, str, dict]:
        return "POST", "/api/files/upload", _multipart({}, self.data), MULTIPART, {}

    def finish(self, status: int, answer: dict) -> str:
        assert status == 201, answer
        return answer["data"]["id"]


class Plain(Door):
    pass


class Bulk(Door):
    def prepare(self):
        self.batch = bulk.start(self.client, totalFiles=1)["uploadId"]

    def request(self):
        body = _multipart({"uploadId": self.batch, "relativePath": f"Holiday/{self.name}"}, self.data)
        return "POST", "/api/bulk-upload/file", body, MULTIPART, {}

    def finish(self, status, answer):
        assert status == 201, answer
        assert bulk.complete(self.client, self.batch)["created"]["count"] == 1
        return answer["data"]["id"]


class Chunk(Door):
    gate = "files.uploads.http:PartUploadHandler.receive_data_chunk"
    name = "example.mp4"

    def prepare(self):
        self.upload_id = sv.init(self.client, total=1, file_size=len(self.data))["upload_id"]

    def request(self):
        body = _multipart({"upload_id": self.upload_id, "chunk_number": 1}, self.data)
        return "POST", "/storage/api/v3/chunk_upload/", body, MULTIPART, {}

    def finish(self, status, answer):
        assert status == 200, answer
        done = sv.complete(self.client, self.upload_id)
        [listed] = _files_named(self.client, self.name)
        assert done["file_id"] and listed["size"] == len(self.data)
        return listed["id"]


class Tus(Door):
    gate = "files.uploads.parts:PartSpool.write"
    name = "movie.mov"

    def prepare(self):
        self.url = tus.create(self.client, len(self.data), metadata={"filename": self.name})

    def request(self):
        return "PATCH", self.url, self.data, tus.OFFSET_STREAM, {"Tus-Resumable": "1.0.0", "Upload-Offset": "0"}

    def finish(self, status, answer):
        assert status == 204, answer
        [listed] = _files_named(self.client, self.name)
        return listed["id"]


@pytest.mark.parametrize("kind", ["gunicorn", "runserver"])
@pytest.mark.parametrize("door", [Plain, Chunk, Tus, Bulk], ids=lambda door: door.__name__.lower())
def test_server_killed_mid_upload_holds_nothing_after_the_sweep(kind, door, web_server, gate, auth_client, user):
    leftovers_clear()
    door = door(auth_client)
    door.prepare()
    before = usage(auth_client)
    server, port = web_server(kind, setup=gate.setup(door.gate, after=True))
    method, path, body, content_type, headers = door.request()

    connection = _request(port, auth_client, method, path, body, content_type, sent=len(body) // 2, headers=headers)
    with connection:
        inside = gate.wait(server)
        assert inside == server.pid if kind == "runserver" else inside != server.pid  # a gunicorn worker
        process_kill(inside)

    assert _files_named(auth_client, door.name) == []  # nothing visible
    time.sleep(LEASE + 0.5)  # the dead request's lease runs out
    quota_holds_expire_task.apply()  # the beat's sweep, run here
    assert not QuotaHold.objects.filter(owner=user).exists()
    assert usage(auth_client) == before  # a chunked session still holds its declared size, nothing more

    if kind == "runserver":  # it died whole; gunicorn's master started a fresh worker
        server, port = web_server(kind)
    status, answer = _request(port, auth_client, method, path, body, content_type, headers=headers)
    file_id = door.finish(status, answer)
    assert download(auth_client, file_id) == door.data
    after = usage(auth_client)
    assert after["used"] == before["used"] + len(door.data) and after["reserved"] == 0
    call_command("check_invariants", "--reconcile", "--user", user.username, verbosity=0)
    assert_storage_invariants(files_ok=[(user, file_id, sha(door.data))], users=[user])


def test_a_slow_upload_keeps_its_hold_past_the_lease(web_server, auth_client, user):
    """Bytes that keep flowing renew the lease: the sweep, run while a body arrives more
    slowly than one lease, leaves the live request's hold alone."""
    leftovers_clear()
    server, port = web_server("gunicorn")
    data = os.urandom(4 * MiB)
    body = _multipart({}, data)
    connection = _request(port, auth_client, "POST", "/api/files/upload", body, MULTIPART, sent=0)
    pieces = 8
    with connection:
        for index in range(pieces):  # 8 × 0.6 s: twice the lease
            connection.sendall(body[index * len(body) // pieces:(index + 1) * len(body) // pieces])
            time.sleep(0.6)
            assert quota_holds_expire_task.apply().result == 0  # run here; .get() may refuse inside a test
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == b"201", answer
    file_id = json.loads(payload)["data"]["id"]
    assert download(auth_client, file_id) == data
    assert usage(auth_client)["reserved"] == 0
    assert_storage_invariants(files_ok=[(user, file_id, sha(data))], users=[user])


@pytest.mark.django_db
def test_a_tus_upload_whose_creation_failed_with_503_holds_nothing(auth_client, monkeypatch):
    """tus creation with a body: the database fails while the first bytes are recorded
    (503, no Location). The client never learned the upload's id, so the upload ends
    with the request and its declared size is released at once, not in 7 days."""
    from django.db import OperationalError

    from files.models import UploadSession, UploadStatus
    from files import uploads

    leftovers_clear()
    before = usage(auth_client)

    def database_busy(**kwargs):
        kwargs["received"].discard()
        raise OperationalError("database is locked")

    monkeypatch.setattr(uploads, "part_accept", database_busy)
    data = os.urandom(1000)
    resp = tus.create(auth_client, len(data) * 2, metadata={"filename": "half.bin"}, body=data, expect=503)
    assert "Location" not in resp
    assert usage(auth_client) == before
    assert UploadSession.objects.get(name="half.bin").status == UploadStatus.FAILED
    assert_storage_invariants()
