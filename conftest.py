"""Fixtures shared by every app's tests.

The suite runs on the embedded default (SQLite, local files, eager tasks) and, when
CI sets the variables, on PostgreSQL, Redis, a real Celery worker and SeaweedFS,
which the session starts itself when STORAGE_BACKEND=s3 and no endpoint is given.
"""

import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from storage_site.celery import app as celery_app
from storage_site.testing.client import Client

TEST_BUCKET = "stratus-test"

# The browser fixtures (chromium, new_page, shot), defined once for every app's tests.
pytest_plugins = ["storage_site.testing.browser"]


@pytest.fixture(scope="session", autouse=True)
def storage_backend(tmp_path_factory):
    """Point the default storage at a scratch place: a temp folder, or a bucket on SeaweedFS."""
    if settings.STORAGE_BACKEND == "s3":
        options = dict(settings.STORAGES["default"]["OPTIONS"])
        weed = None
        if not os.environ.get("AWS_S3_ENDPOINT_URL"):
            from storage_site.testing.seaweedfs import SeaweedFS

            weed = SeaweedFS().start()
            weed.create_bucket(TEST_BUCKET)
            options.update(endpoint_url=weed.endpoint_url, access_key=weed.access_key,
                           secret_key=weed.secret_key, bucket_name=TEST_BUCKET)
        storages = {**settings.STORAGES, "default": {**settings.STORAGES["default"], "OPTIONS": options}}
        with override_settings(STORAGES=storages):
            yield "s3"
        if weed:
            weed.stop()
    else:
        location = tmp_path_factory.mktemp("media")
        storages = {**settings.STORAGES, "default": {**settings.STORAGES["default"],
                                                     "OPTIONS": {"location": str(location)}}}
        with override_settings(STORAGES=storages):
            yield "local"


@pytest.fixture(autouse=True)
def _test_defaults(settings, tmp_path):
    from django.core.cache import cache

    cache.clear()  # throttles and counters start fresh in every test
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.WHATSAPP_BACKEND = "file"
    settings.WHATSAPP_FILE_PATH = str(tmp_path / "whatsapp.jsonl")
    # Tasks run in process unless a test asks for the real worker.
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER


@pytest.fixture
def api_client():
    return Client()


@pytest.fixture
def whatsapp_outbox(settings):
    """The messages the file backend wrote, newest last."""

    def read(phone: str | None = None) -> list[dict]:
        path = Path(settings.WHATSAPP_FILE_PATH)
        if not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [m for m in lines if phone is None or m["phone"] == phone]

    return read


@pytest.fixture
def make_user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def other_user(make_user):
    return make_user()


def _bearer_client(user) -> Client:
    from accounts.models import Client as SessionClient
    from accounts.services import _sign_in

    client = Client()
    client.sign_in = _sign_in(user, client=SessionClient.WEB, ip_address="127.0.0.1", user_agent="pytest")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.sign_in.access}")
    return client


@pytest.fixture
def auth_client(user):
    return _bearer_client(user)


@pytest.fixture
def other_client(other_user):
    return _bearer_client(other_user)


@pytest.fixture
def client_for():
    return _bearer_client


@pytest.fixture
def celery_worker_factory(transactional_db, settings, tmp_path):
    """Start real `celery worker` processes on the configured broker and the test
    database: `start(name="", pool="solo", env=None, setup="")` starts one, waits until
    it answers a ping and returns its process. `setup` is Python code the worker
    process runs before Celery starts (a test's fault injection). Every worker is
    stopped at the end of the test.

    Tasks are sent through the broker (not run in process) while workers are in use.
    """
    import socket
    import subprocess
    import sys
    import time

    if not settings.CELERY_BROKER_URL:
        pytest.skip("needs CELERY_BROKER_URL (a real broker)")
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        pytest.skip("a worker process cannot share the in-memory SQLite test database")
    base_env = dict(os.environ)
    base_env.update(
        DATABASE_URL=f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        WHATSAPP_BACKEND=settings.WHATSAPP_BACKEND,
        WHATSAPP_FILE_PATH=settings.WHATSAPP_FILE_PATH,
    )
    if settings.STORAGE_BACKEND == "s3":  # the same bucket as the test process (maybe a SeaweedFS it started)
        options = settings.STORAGES["default"]["OPTIONS"]
        base_env.update(AWS_S3_ENDPOINT_URL=options["endpoint_url"] or "",
                        AWS_ACCESS_KEY_ID=options["access_key"] or "",
                        AWS_SECRET_ACCESS_KEY=options["secret_key"] or "",
                        AWS_STORAGE_BUCKET_NAME=options["bucket_name"])
    workers = []

    def start(*, name: str = "", pool: str = "solo", env: dict | None = None, setup: str = ""):
        hostname = f"test-{os.getpid()}{'-' + name if name else ''}@{socket.gethostname()}"  # = Celery's %h
        log_path = tmp_path / f"worker{'-' + name if name else ''}.log"
        log = open(log_path, "wb")
        options = [f"--pool={pool}", "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle",
                   "--hostname", hostname]
        command = [sys.executable, "-m", "celery"] if not setup else [
            sys.executable, "-c", f"{setup}\nimport sys\nfrom celery.__main__ import main\nsys.argv[0] = 'celery'\n"
                                  "sys.exit(main())"]
        worker = subprocess.Popen(command + ["-A", "storage_site", "worker", *options],
                                  env={**base_env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        workers.append(worker)
        celery_app.conf.task_always_eager = False
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[hostname], timeout=1):
            if worker.poll() is not None or time.monotonic() > deadline:
                worker.kill()
                pytest.fail("Celery worker did not start:\n" + log_path.read_text()[-3000:])
        return worker

    try:
        yield start
    finally:
        celery_app.conf.task_always_eager = True
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


@pytest.fixture
def celery_worker(celery_worker_factory):
    """A real `celery worker` process on the configured broker and the test database.

    Tasks are sent through the broker (not run in process) while it is in use.
    """
    return celery_worker_factory()
