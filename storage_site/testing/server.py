"""A real gunicorn process (deploy/gunicorn.conf.py) for tests whose finding needs one:
races between worker processes and threads, and what the server does to connections.

On the embedded default the test database lives in the test process's memory, so the
server gets a migrated SQLite file of its own; on PostgreSQL it shares the test
database (the test must use `transactional_db`, so rows are committed where the server
sees them). Storage follows the test session: a local folder, or the same bucket.
Tasks run inside the server; WhatsApp messages go to `<data_dir>/whatsapp.jsonl`.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, data_dir: Path, *, workers: int = 2, threads: int = 4, env: dict | None = None,
                 args: list[str] | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir / "gunicorn.log"
        self.env = {**os.environ, **_database_and_storage_env(data_dir), "HOST": "127.0.0.1",
                    "WEB_PORT": str(self.port), "WEB_CONCURRENCY": str(workers), "WEB_THREADS": str(threads),
                    "CELERY_BROKER_URL": "", "WHATSAPP_BACKEND": "file",
                    "WHATSAPP_FILE_PATH": str(data_dir / "whatsapp.jsonl"), **(env or {})}
        self.args = args or []
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Gunicorn":
        if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=settings.BASE_DIR,
                           env=self.env, check=True, timeout=300)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", *self.args, "storage_site.wsgi"],
                cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90  # a loaded machine
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("gunicorn did not start:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.3)
        return self

    def _answers(self) -> bool:
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

    def sign_up(self, name: str) -> "requests.Session":
        """A new user of this server, registered and signed in over HTTP (StreamVault's
        register and login): a session carrying its Bearer token."""
        import requests

        password = "server-test-password-1"
        http = requests.Session()
        resp = http.post(f"{self.url}/storage/api/v5/register/", timeout=60,
                         json={"email": f"{name}@example.com", "username": name, "password": password})
        assert resp.status_code == 201, resp.text
        resp = http.post(f"{self.url}/storage/api/v5/login/", json={"email": f"{name}@example.com",
                                                                    "password": password}, timeout=60)
        assert resp.status_code == 200, resp.text
        http.headers["Authorization"] = f"Bearer {resp.json()['access']}"
        return http

    def whatsapp(self, phone: str) -> list[dict]:
        path = self.data_dir / "whatsapp.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [m for m in map(json.loads, filter(None, lines)) if m["phone"] == phone]


def _database_and_storage_env(data_dir: Path) -> dict:
    env = {"DATA_DIR": str(data_dir)}
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        env["DATABASE_URL"] = f"sqlite:///{data_dir / 'db.sqlite3'}"
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    if settings.STORAGE_BACKEND == "s3":
        options = settings.STORAGES["default"]["OPTIONS"]
        env.update(STORAGE_BACKEND="s3", AWS_S3_ENDPOINT_URL=options["endpoint_url"] or "",
                   AWS_ACCESS_KEY_ID=options["access_key"] or "", AWS_SECRET_ACCESS_KEY=options["secret_key"] or "",
                   AWS_STORAGE_BUCKET_NAME=options["bucket_name"])
    else:
        env["STORAGE_BACKEND"] = "local"
    return env


@pytest.fixture
def gunicorn_factory(transactional_db, tmp_path):
    """`start(workers=2, threads=4, env=None, args=None)` starts a gunicorn and waits until
    it answers; every server is stopped at the end of the test."""
    servers = []

    def start(**kwargs) -> Gunicorn:
        data_dir = tmp_path / f"server{len(servers)}"
        data_dir.mkdir()
        server = Gunicorn(data_dir, **kwargs)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
