"""A real gunicorn process (deploy/gunicorn.conf.py: several workers, threads) for tests
whose behaviour needs one: races between worker processes and threads, what the server
does to connections, fuzzing from outside.

- Embedded default (the tests' SQLite database is in memory, no other process sees it):
  a SQLite file in a fresh DATA_DIR, migrated first, as a real deployment has it.
- Production configuration: the test database (the test must use `transactional_db` so
  the server sees its rows), the same Redis, broker and S3 bucket as the test process.
WhatsApp messages go to `<data_dir>/whatsapp.jsonl`.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def uses_sqlite() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def server_env(data_dir: Path) -> dict:
    """The environment of a child process (server or worker) on this run's configuration."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(DATA_DIR=str(data_dir), DEBUG="false", SECRET_KEY="stratus-live-server-test-key-" + "x" * 32,
               LOG_LEVEL="WARNING", WHATSAPP_BACKEND="file", WHATSAPP_FILE_PATH=str(data_dir / "whatsapp.jsonl"),
               PUSH_BACKEND="file", PUSH_FILE_PATH=str(data_dir / "push.jsonl"))
    db = settings.DATABASES["default"]
    if uses_sqlite():
        env.pop("DATABASE_URL", None)  # the SQLite file in DATA_DIR
        env.update(STORAGE_BACKEND="local")
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    if settings.STORAGE_BACKEND == "s3":  # the bucket the test session uses (maybe on a SeaweedFS it started)
        options = settings.STORAGES["default"]["OPTIONS"]
        env.update(STORAGE_BACKEND="s3", AWS_S3_ENDPOINT_URL=options["endpoint_url"] or "",
                   AWS_ACCESS_KEY_ID=options["access_key"] or "",
                   AWS_SECRET_ACCESS_KEY=options["secret_key"] or "",
                   AWS_STORAGE_BUCKET_NAME=options["bucket_name"])
    return env


class LiveServer:
    """`with LiveServer(tmp_path, workers=2, threads=4) as server: requests.get(server.url + ...)`,
    or `server.start()` ... `server.stop()`."""

    def __init__(self, data_dir: Path, *, workers: int = 2, threads: int = 4, env: dict | None = None,
                 args: list[str] | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "gunicorn.log"
        self.env = {**server_env(self.data_dir), "HOST": "127.0.0.1", "WEB_PORT": str(self.port),
                    "WEB_CONCURRENCY": str(workers), "WEB_THREADS": str(threads), **(env or {})}
        self.args = args or []
        self.process: subprocess.Popen | None = None

    def start(self) -> "LiveServer":
        if uses_sqlite():  # a fresh file database, as `make run` makes it
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=settings.BASE_DIR,
                           env=self.env, check=True, timeout=600)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", *self.args, "storage_site.wsgi"],
                cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # a loaded machine
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("gunicorn did not start:\n" + self.log()[-3000:])
            time.sleep(0.3)
        return self

    def _answers(self) -> bool:
        # A raw request: no client-side connection pool to keep a connection the test did not ask for.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    __enter__ = start

    def __exit__(self, *exc):
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def whatsapp(self, phone: str) -> list[dict]:
        """The WhatsApp messages this server sent to `phone`, oldest first."""
        path = self.data_dir / "whatsapp.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [m for m in map(json.loads, filter(None, lines)) if m["phone"] == phone]

    def sign_in(self, email: str, password: str = "server-test-password-1") -> str:
        """Register through StreamVault and sign in: the access token (good for every API)."""
        resp = requests.post(self.url + "/storage/api/v5/register/", json={
            "email": email, "username": email.split("@")[0], "password": password}, timeout=60)
        assert resp.status_code == 201, resp.text
        resp = requests.post(self.url + "/storage/api/v5/login/", json={"email": email, "password": password},
                             timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()["access"]

    def sign_up(self, name: str) -> requests.Session:
        """A new user of this server, signed in: a session carrying its Bearer token."""
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.sign_in(f'{name}@example.com')}"
        return http


@pytest.fixture
def gunicorn_factory(transactional_db, tmp_path):
    """`start(workers=2, threads=4, env=None, args=None)` starts a gunicorn and waits until
    it answers; every server is stopped at the end of the test. Its tasks run inside the
    server (no broker), so what they write (WhatsApp codes) is there when it answers."""
    servers = []

    def start(*, env: dict | None = None, **kwargs) -> LiveServer:
        server = LiveServer(tmp_path / f"server{len(servers)}", env={"CELERY_BROKER_URL": "", **(env or {})},
                            **kwargs)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
