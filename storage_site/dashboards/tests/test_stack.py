"""Probes, request ids and structured logs."""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings

from storage_site.core.logging import JsonFormatter, RequestIdFilter, _stamp_headers, request_id_var

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_anything(api_client, django_assert_num_queries):
    with django_assert_num_queries(0):
        resp = api_client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_readyz_checks_database_storage_and_broker(api_client):
    resp = api_client.get("/readyz")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "storage", "broker"}
    assert body["checks"]["database"]["status"] == body["checks"]["storage"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == ("ok" if settings.CELERY_BROKER_URL else "not configured")


def test_readyz_is_503_naming_the_storage_when_it_is_gone(api_client, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "missing" / "disk" / "media")}}}
    resp = api_client.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unavailable" and body["failing"] == ["storage"]
    assert body["checks"]["database"]["status"] == "ok"


def test_readyz_is_503_when_the_broker_is_unreachable(api_client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    resp = api_client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["failing"] == ["broker"]


def test_readyz_gives_up_on_a_hung_check(api_client, settings, monkeypatch):
    import time

    from storage_site.dashboards import health

    settings.HEALTH_CHECK_TIMEOUT = 0.3
    monkeypatch.setattr(health, "_storage", lambda: time.sleep(2))
    started = time.monotonic()
    resp = api_client.get("/readyz")
    assert time.monotonic() - started < 1.5
    assert resp.status_code == 503 and "no answer within" in resp.json()["checks"]["storage"]["detail"]


# --- request ids ------------------------------------------------------------------------------

@pytest.fixture
def json_lines():
    """Log lines as production writes them (JSON formatter, request-id filter), parsed."""
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_request_id_is_generated_echoed_and_logged(auth_client, json_lines):
    resp = auth_client.get("/api/user/storage-stats")
    rid = resp["X-Request-ID"]
    assert len(rid) == 32 and int(rid, 16) >= 0
    access = [line for line in json_lines() if line["logger"] == "stratus.request"]
    assert access[-1]["request_id"] == rid
    assert (access[-1]["method"], access[-1]["path"], access[-1]["status"]) == ("GET", "/api/user/storage-stats", 200)
    assert access[-1]["level"] == "INFO" and "duration_ms" in access[-1] and access[-1]["time"].endswith("+00:00")
    assert auth_client.get("/api/user/storage-stats")["X-Request-ID"] != rid


def test_a_callers_request_id_is_kept_in_every_line_of_the_request(api_client, settings, json_lines):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # the failing check logs a warning inside the request
    resp = api_client.get("/readyz", HTTP_X_REQUEST_ID="lb-7f3a.42")
    assert resp["X-Request-ID"] == "lb-7f3a.42"
    lines = json_lines()
    warning = next(line for line in lines if line["logger"] == "storage_site.dashboards.health")
    assert warning["request_id"] == "lb-7f3a.42" and warning["level"] == "WARNING"
    assert request_id_var.get() == "-"  # nothing leaks into the next request


@pytest.mark.parametrize("offered", ["has space", "x" * 200, "new\nline", "<b>"])
def test_unsafe_request_ids_are_replaced(api_client, offered):
    resp = api_client.get("/healthz", HTTP_X_REQUEST_ID=offered)
    assert resp["X-Request-ID"] != offered and len(resp["X-Request-ID"]) == 32


def test_tasks_carry_the_request_id_of_who_queued_them():
    headers = {}
    token = request_id_var.set("req-1")
    try:
        _stamp_headers(headers=headers)
    finally:
        request_id_var.reset(token)
    assert headers == {"request_id": "req-1"}


def test_production_logs_are_json_lines(tmp_path):
    """DEBUG off: one JSON object per line, exceptions included."""
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "x" * 50, "DATA_DIR": str(tmp_path), "LOG_FORMAT": ""}
    env.pop("LOG_FORMAT")
    code = ("import logging; log = logging.getLogger('stratus.test'); log.warning('disk %s', 'full', extra={'disk': 'a'})\n"
            "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('boom')")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines] == ["disk full", "boom"]
    assert lines[0]["disk"] == "a" and lines[0]["request_id"] == "-"
    assert "ZeroDivisionError" in lines[1]["exception"]
    assert all(line.startswith("{") for line in result.stderr.strip().splitlines())


def test_text_logs_in_development_carry_the_request_id(tmp_path):
    env = {**os.environ, "DEBUG": "true", "DATA_DIR": str(tmp_path), "LOG_FORMAT": "text"}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                             "import logging; logging.getLogger('stratus.test').warning('hello')"],
                            cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "WARNING [-] stratus.test: hello" in result.stderr


# --- the stack's files ----------------------------------------------------------------------------

def test_procfile_runs_web_workers_beat_and_s3():
    root = settings.BASE_DIR
    lines = [line for line in (root / "Procfile").read_text().splitlines() if line.strip() and not line.startswith("#")]
    entries = {name.strip(): command.strip() for name, command in (line.split(":", 1) for line in lines)}
    assert set(entries) == {"s3", "web", "worker", "previews", "beat"}
    for command in [*entries.values(), "deploy/stack.sh"]:
        script = root / command.split()[0]
        assert os.access(script, os.X_OK), script
        subprocess.run(["bash", "-n", str(script)], check=True)
    assert "gunicorn" in (root / "deploy/web.sh").read_text()
    assert "celery -A storage_site worker" in (root / "deploy/worker.sh").read_text()
    previews = (root / "deploy/previews.sh").read_text()
    assert "celery -A storage_site worker" in previews and "--pool=threads" in previews
    assert "celery -A storage_site beat" in (root / "deploy/beat.sh").read_text()
    assert "weed server" in (root / "deploy/seaweedfs.sh").read_text()


def test_stack_refuses_to_start_without_its_database_and_redis():
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(["bash", "deploy/stack.sh"], cwd=settings.BASE_DIR, env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr
    env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/nothing"
    result = subprocess.run(["bash", "deploy/stack.sh"], cwd=settings.BASE_DIR, env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0 and "REDIS_URL" in result.stderr


def test_gunicorn_config_logs_json_and_shares_the_port():
    import runpy

    config = runpy.run_path(str(settings.BASE_DIR / "deploy/gunicorn.conf.py"))
    assert config["worker_class"] == "gthread" and config["reuse_port"] is True
    handler = config["logconfig_dict"]["handlers"]["console"]
    assert config["logconfig_dict"]["formatters"][handler["formatter"]]["()"].endswith("JsonFormatter")
