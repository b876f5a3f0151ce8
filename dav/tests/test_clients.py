"""/dav/ against software nobody here wrote, on a real server: gunicorn with the
production configuration file (two worker processes, so locks must be shared), on
its own database (a SQLite file, or a fresh PostgreSQL database beside the test
one) and the storage of this test run (a local folder, or the run's S3 bucket).

- the litmus suite's basic, copymove, props, locks and http groups;
- rclone copying a tree of 1,000 small files and a 256 MiB file up and back,
  `rclone check` clean, `rclone sync` after local edits and deletions converging,
  and the files listed by the LayoodStorage API;
- raw sockets for what clients do not do on purpose: bodies cut short, chunked bodies.
"""

import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.skipif(not (shutil.which("litmus") and shutil.which("rclone")),
                                reason="needs the litmus and rclone Debian packages (.ci/apt-packages)")

MiB = 1024 * 1024

_MAKE_ACCOUNT = """
import json
from accounts.models import Client, User
from accounts.services import _sign_in, app_password_create
user = User.objects.create_user("davtester", password="not-the-dav-password", email="dav@example.com",
                                storage_quota=8 * 1024 ** 3)
print(json.dumps({"password": app_password_create(user=user, name="tests")[1],
                  "token": _sign_in(user, client=Client.WEB, ip_address=None, user_agent="tests").access}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, url: str, login: str, password: str, token: str):
        self.url, self.login, self.password, self.token = url, login, password, token
        self.port = int(url.rsplit(":", 1)[1].split("/")[0])

    def api(self, path: str) -> dict:
        request = urllib.request.Request(self.url.replace("/dav/", path), headers={
            "Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["data"]

    def files(self) -> dict[str, dict]:
        """Every live file by path below home, through /api/files/list (pages of 1,000)."""
        found, page = {}, 1
        while True:
            data = self.api(f"/api/files/list?pageSize=1000&page={page}")
            for item in data["items"]:
                found.setdefault(item["name"], []).append(item)
            if page * 1000 >= data["pagination"]["total"]:
                return found
            page += 1

    def rclone(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        env = {**os.environ, "RCLONE_CONFIG_STRATUS_TYPE": "webdav", "RCLONE_CONFIG_STRATUS_URL": self.url,
               "RCLONE_CONFIG_STRATUS_VENDOR": "other", "RCLONE_CONFIG_STRATUS_USER": self.login,
               "RCLONE_CONFIG_STRATUS_PASS": subprocess.run(["rclone", "obscure", self.password], check=True,
                                                            capture_output=True, text=True).stdout.strip(),
               "RCLONE_CONFIG": os.devnull}
        return subprocess.run(["rclone", *args, "--transfers", "8", "--checkers", "8", "--retries", "1",
                               "--low-level-retries", "2", "--contimeout", "30s", "--timeout", "120s"],
                              env=env, capture_output=True, text=True, timeout=timeout)


def _database_env(tmp: Path) -> tuple[dict, callable]:
    """The server's own database: a SQLite file, or a fresh PostgreSQL database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return {"DATABASE_URL": f"sqlite:///{tmp / 'server.sqlite3'}"}, lambda: None
    import psycopg

    name = f"{db['NAME']}_davserver"[:63]
    admin = dict(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"],
                 dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(**admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    return {"DATABASE_URL": url}, drop


@pytest.fixture(scope="module")
def dav_server(tmp_path_factory, storage_backend):
    tmp = tmp_path_factory.mktemp("davserver")
    port = _free_port()
    database, drop = _database_env(tmp)
    env = {**os.environ, **database, "DATA_DIR": str(tmp), "HOST": "127.0.0.1", "WEB_PORT": str(port),
           "WEB_CONCURRENCY": "2", "WEB_THREADS": "4", "CELERY_BROKER_URL": "", "PREVIEW_AUTO_GENERATE": "false",
           "THROTTLE_PASSWORD_LOGIN": "1000/min"}
    if storage_backend == "s3":  # the bucket of this test run (maybe on a SeaweedFS it started)
        options = settings.STORAGES["default"]["OPTIONS"]
        env.update(AWS_S3_ENDPOINT_URL=options["endpoint_url"] or "", AWS_ACCESS_KEY_ID=options["access_key"] or "",
                   AWS_SECRET_ACCESS_KEY=options["secret_key"] or "",
                   AWS_STORAGE_BUCKET_NAME=options["bucket_name"])
    else:
        env["STORAGE_BACKEND"] = "local"
    manage = [sys.executable, "manage.py"]
    try:
        subprocess.run(manage + ["migrate", "--noinput", "-v0"], cwd=settings.BASE_DIR, env=env, check=True,
                       timeout=600)
        account = json.loads(subprocess.run(manage + ["shell", "-c", _MAKE_ACCOUNT], cwd=settings.BASE_DIR, env=env,
                                            check=True, capture_output=True, text=True,
                                            timeout=120).stdout.strip().splitlines()[-1])
        log = open(tmp / "gunicorn.log", "wb")
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                    "storage_site.wsgi"], cwd=settings.BASE_DIR, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    except BaseException:
        drop()
        raise
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, \
                    (tmp / "gunicorn.log").read_text()[-3000:]
                time.sleep(0.5)
        yield Server(f"http://127.0.0.1:{port}/dav/", "davtester", account["password"], account["token"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        drop()


@pytest.mark.parametrize("group", ["basic", "copymove", "props", "locks", "http"])
def test_litmus(dav_server, group, tmp_path):
    run = subprocess.run(["litmus", dav_server.url, dav_server.login, dav_server.password],
                         env={**os.environ, "TESTS": group, "HOME": str(tmp_path)}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and " 0 failed" in run.stdout and "FAIL" not in run.stdout, run.stdout + run.stderr


def _write_tree(root: Path, count: int) -> None:
    rng = random.Random(19)
    for n in range(count):
        folder = root / f"dir{n % 10}" / ("deep/er" if n % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"f{n:04d}-{'élan' if n % 7 == 0 else 'x'}.txt"
        (folder / name).write_bytes(rng.randbytes(rng.randrange(0, 4096)))


def _check(server: Server, local: Path, remote: str) -> None:
    run = server.rclone("check", str(local), f"stratus:{remote}")
    assert run.returncode == 0 and "0 differences found" in run.stderr, run.stderr[-3000:]


def test_rclone_copies_a_tree_up_and_back_and_sync_converges(dav_server, tmp_path):
    local = tmp_path / "up"
    _write_tree(local, 1000)
    run = dav_server.rclone("copy", str(local), "stratus:tree")
    assert run.returncode == 0, run.stderr[-3000:]
    _check(dav_server, local, "tree")

    down = tmp_path / "down"
    run = dav_server.rclone("copy", "stratus:tree", str(down))
    assert run.returncode == 0, run.stderr[-3000:]
    for path in local.rglob("*"):
        if path.is_file():
            assert (down / path.relative_to(local)).read_bytes() == path.read_bytes(), path

    listed = dav_server.files()
    assert sum(len(v) for k, v in listed.items() if k.startswith("f")) == 1000
    sample = next(local.rglob("f0007-élan.txt"))
    assert listed["f0007-élan.txt"][0]["sha256"] == hashlib.sha256(sample.read_bytes()).hexdigest()

    # Local edits, deletions and additions; one sync brings the server to the same tree.
    files = sorted(p for p in local.rglob("*") if p.is_file())
    for path in files[:20]:
        path.write_bytes(path.read_bytes() + b" edited")
    for path in files[20:40]:
        path.unlink()
    (local / "dir3" / "new.txt").write_bytes(b"new")
    run = dav_server.rclone("sync", str(local), "stratus:tree")
    assert run.returncode == 0, run.stderr[-3000:]
    _check(dav_server, local, "tree")
    listed = dav_server.files()
    assert sum(len(v) for k, v in listed.items() if k.startswith("f")) == 980 and "new.txt" in listed
    run = dav_server.rclone("sync", str(local), "stratus:tree", "-v")
    assert run.returncode == 0 and "There was nothing to transfer" in run.stderr, run.stderr[-3000:]


def test_rclone_round_trips_a_256_mib_file(dav_server, tmp_path):
    big = tmp_path / "up" / "big.bin"
    big.parent.mkdir()
    digest = hashlib.sha256()
    with open(big, "wb") as out:
        for _ in range(256):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    run = dav_server.rclone("copy", str(big.parent), "stratus:large")
    assert run.returncode == 0, run.stderr[-3000:]
    _check(dav_server, big.parent, "large")
    run = dav_server.rclone("copy", "stratus:large", str(tmp_path / "down"))
    assert run.returncode == 0, run.stderr[-3000:]
    with open(tmp_path / "down" / "big.bin", "rb") as back:
        assert hashlib.file_digest(back, "sha256").hexdigest() == digest.hexdigest()
    listed = dav_server.files()["big.bin"][0]
    assert (listed["size"], listed["sha256"]) == (256 * MiB, digest.hexdigest())


def _send(server: Server, head: str, body_parts: list[bytes]) -> bytes:
    """Send a request head and body parts on a fresh connection; the answer (b"" if none)."""
    import base64

    auth = base64.b64encode(f"{server.login}:{server.password}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall((head + f"Host: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n\r\n").encode())
        for part in body_parts:
            sock.sendall(part)
            time.sleep(0.05)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except OSError:
            pass
    return answer


def _stats(server: Server) -> dict:
    return server.api("/api/user/storage-stats")


def test_a_put_cut_short_keeps_nothing_and_holds_nothing(dav_server):
    before = _stats(dav_server)
    _send(dav_server, f"PUT /dav/cut.bin HTTP/1.1\r\nContent-Length: {8 * MiB}\r\n", [os.urandom(MiB)] * 3)
    chunk = os.urandom(MiB)
    _send(dav_server, "PUT /dav/cut-chunked.bin HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
          [b"%x\r\n" % len(chunk) + chunk + b"\r\n", b"%x\r\n" % (2 * MiB) + chunk])
    time.sleep(1)
    after = _stats(dav_server)
    assert (after["used"], after["reserved"]) == (before["used"], 0)
    names = dav_server.files()
    assert "cut.bin" not in names and "cut-chunked.bin" not in names


def test_a_chunked_put_without_length_is_stored(dav_server):
    chunks = [os.urandom(300_000), os.urandom(5 * MiB), b"end"]
    body = [b"%x\r\n" % len(c) + c + b"\r\n" for c in chunks] + [b"0\r\n\r\n"]
    answer = _send(dav_server, "PUT /dav/chunked.bin HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                               "Connection: close\r\n", body)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    listed = dav_server.files()["chunked.bin"][0]
    assert listed["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_a_lock_holds_in_every_worker_process(dav_server):
    lock = _send(dav_server, "LOCK /dav/locked.txt HTTP/1.1\r\nContent-Type: application/xml\r\n"
                             "Content-Length: 150\r\nConnection: close\r\n",
                 [b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
                  b'<D:locktype><D:write/></D:locktype></D:lockinfo>'.ljust(150)])
    assert lock.startswith(b"HTTP/1.1 201"), lock[:300]  # a lock on a new name makes an empty file
    # New connections land on either process (SO_REUSEPORT); every one sees the lock.
    for _ in range(12):
        answer = _send(dav_server, "PUT /dav/locked.txt HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n",
                       [b"x"])
        assert answer.startswith(b"HTTP/1.1 423"), answer[:300]
