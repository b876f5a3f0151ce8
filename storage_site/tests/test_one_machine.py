"""One machine, nothing installed beyond Python: `make run` for real (gunicorn, a Celery
worker and beat, Valkey from its Python package, SQLite, local files), the cache shared by
gunicorn's workers without Redis, and DEBUG off unless asked for.

The servers run in a temporary DATA_DIR on free ports, with none of the production
configuration's variables (they test the embedded default, so the production run of CI
skips them)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings

from previews import testing as samples

ROOT = Path(settings.BASE_DIR)
PRODUCTION_VARIABLES = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "STORAGE_BACKEND",
                        "AWS_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_STORAGE_BUCKET_NAME",
                        "PREVIEW_QUEUE", "ALLOWED_HOSTS", "WEB_CONCURRENCY")
embedded_only = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")),
                                   reason="the embedded default's servers; the production run tests `make stack`'s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _embedded_env(data_dir: Path, **extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in PRODUCTION_VARIABLES}
    return {**env, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra}


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert process.poll() is None, log.read_text()[-4000:]
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.5)


def _sign_in(base: str, name: str) -> dict:
    password = "securePassword123"
    resp = requests.post(f"{base}/storage/api/v5/register/", timeout=30,
                         json={"email": f"{name}@example.com", "username": name, "password": password})
    assert resp.status_code == 201, resp.text
    resp = requests.post(f"{base}/storage/api/v5/login/", json={"email": f"{name}@example.com", "password": password},
                         timeout=30)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access']}"}


def _preview_info(base: str, headers: dict, file_id: str, *, until: tuple, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        resp = requests.get(f"{base}/api/files/{file_id}/preview-info", headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        if data["status"] in until or time.monotonic() > deadline:
            return data
        time.sleep(0.3)


def _processes(marker: str, root: int | None = None) -> dict[int, str]:
    """Processes (pid → command line) whose environment carries `marker` (every process a
    launcher started inherits it, whatever session or process group it moved to), and the
    descendants of `root` (Valkey writes its title over its environment)."""
    found, parents = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if marker.encode() in (entry / "environ").read_bytes():
                found[int(entry.name)] = ""
        except OSError:  # gone meanwhile, or not ours to read
            continue
    if root is not None:
        family = {root}
        while grown := {pid for pid, parent in parents.items() if parent in family} - family:
            family |= grown
        found.update(dict.fromkeys(family & set(parents), ""))
    for pid in list(found):
        try:
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            del found[pid]
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie has ended: only its exit status waits to be collected)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


# --- make run ------------------------------------------------------------------------------------

@embedded_only
def test_make_run_serves_with_a_real_worker_and_ctrl_c_stops_every_process(tmp_path):
    """`make run` as a person runs it in a terminal: its own process group, then Ctrl-C
    (SIGINT to the whole group). Previews are made by the worker, not in the upload
    request; a 9400 × 9400 PNG fails its preview without being decoded anywhere; and
    after Ctrl-C not one process the command started is left."""
    marker = f"STRATUS_RUN_TEST={uuid.uuid4().hex}"
    port = _free_port()
    data_dir = tmp_path / "data"
    log_path = tmp_path / "run.log"
    env = _embedded_env(data_dir, PORT=str(port), WORKER_CONCURRENCY="1", WEB_CONCURRENCY="2",
                        STRATUS_RUN_TEST=marker.split("=", 1)[1])
    started = {}
    with open(log_path, "wb") as log:
        run = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", run, log_path)
        output = log_path.read_text()
        assert f"run: Stratus at {base}/" in output
        password = re.search(r"Created admin account 'admin' with password: (\S+)", output).group(1)

        # The process set: Valkey from the Python package, gunicorn, a worker and beat.
        started = _processes(marker, run.pid)
        commands = " | ".join(started.values())
        for part in ("valkey-server", "gunicorn storage_site.wsgi", "celery -A storage_site worker",
                     "celery -A storage_site beat"):
            assert part in commands, commands
        ready = requests.get(f"{base}/readyz", timeout=30).json()
        assert ready["status"] == "ready" and ready["checks"]["broker"]["status"] == "ok", ready
        # DEBUG is off: an unknown page is the API's 404, never Django's debug page.
        missing = requests.get(f"{base}/no/such/page", timeout=30)
        assert missing.status_code == 404 and "URLconf" not in missing.text

        headers = _sign_in(base, "alice")
        resp = requests.post(f"{base}/api/files/upload", headers=headers, timeout=60,
                             files={"file": ("photo.png", samples.png(), "image/png")})
        assert resp.status_code == 201, resp.text
        photo = resp.json()["data"]["id"]
        data = _preview_info(base, headers, photo, until=("ready", "failed"))
        assert data["status"] == "ready", (data, log_path.read_text()[-6000:])
        # Made by the worker: its log has the task, and the web processes never loaded Pillow.
        assert re.search(r"worker +\|.*preview_generate_task\[[0-9a-f-]+\] succeeded.*'ready'",
                         log_path.read_text()), log_path.read_text()[-4000:]

        resp = requests.post(f"{base}/api/files/upload", headers=headers, timeout=60,
                             files={"file": ("huge.png", samples.flat_png(width=9400, height=9400), "image/png")})
        assert resp.status_code == 201, resp.text
        data = _preview_info(base, headers, resp.json()["data"]["id"], until=("ready", "failed"))
        assert data["status"] == "failed" and "over the limit of 50 megapixels" in data["error"], \
            (data, log_path.read_text()[-6000:])
        assert re.search(r"worker +\|.*preview_generate_task\[[0-9a-f-]+\] succeeded.*'failed'",
                         log_path.read_text())
        # The admin signs in with the printed password; the previews queue is read from Valkey.
        resp = requests.post(f"{base}/auth", json={"username": "admin", "password": password}, timeout=30)
        assert resp.status_code == 200, resp.text
        resp = requests.get(f"{base}/api/admin/preview-analytics", timeout=30,
                            headers={"Authorization": f"Bearer {resp.json()['token']}"})
        assert resp.status_code == 200 and resp.json()["data"]["queue"]["source"] == "broker", resp.text
        # Decoded, it would have taken 350 MB; nothing here grew past its boot size and a little.
        for pid, command in _processes(marker, run.pid).items():
            if "gunicorn" in command or "celery" in command:
                assert _peak_rss_mib(pid) < 200, (command, _peak_rss_mib(pid))
                maps = Path(f"/proc/{pid}/maps").read_text()
                if "gunicorn" in command:
                    assert "/PIL/" not in maps, "a web process loaded Pillow"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in the terminal
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (left := {pid: command for pid, command in {**started, **_processes(marker)}.items()
                        if _alive(pid)}) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in left:  # never leave them to the next test, but fail below
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not left, f"processes left after Ctrl-C: {left}"
    output = log_path.read_text()
    stopped = re.findall(r"system +\| (\w+) stopped \(rc=0\)", output)
    assert sorted(stopped) == ["beat", "valkey", "web", "worker"], output[-3000:]
    assert stopped[-1] == "valkey", "the broker goes last: the worker acknowledges its tasks first"


def test_the_supervisor_stops_every_group_when_one_process_ends(tmp_path):
    """deploy/supervise.py: a process that ends stops the others (exit status 1); each
    group goes, grandchildren included; one that ignores SIGTERM is killed after the grace
    period; the --last process is stopped after all the others."""
    marker = uuid.uuid4().hex
    procfile = tmp_path / "Procfile"
    procfile.write_text("\n".join([
        "broker: exec sleep 60",
        "family: sleep 60 & exec sleep 61",  # a grandchild in the same group
        "stubborn: trap '' TERM; sleep 62 & wait; wait",
        "brief: sleep 1; exit 3",
    ]) + "\n")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "deploy/supervise.py", "-f", str(procfile), "--last", "broker",
                             "--grace", "2", "broker", "family", "stubborn", "brief"], cwd=ROOT, timeout=60,
                            capture_output=True, text=True, env={**os.environ, "SUPERVISE_TEST": marker})
    assert result.returncode == 1, result.stdout
    assert "brief ended: stopping the others" in result.stdout
    assert "stubborn still running after 2 s: SIGKILL" in result.stdout
    stopped = re.findall(r"system +\| (\w+) stopped", result.stdout)
    assert stopped == ["family", "stubborn", "brief", "broker"], result.stdout
    assert time.monotonic() - started < 30
    assert not {pid for pid in _processes(marker) if _alive(pid)}


# --- gunicorn's workers share one cache without Redis ---------------------------------------------

@pytest.fixture(scope="module")
def embedded_gunicorn(tmp_path_factory):
    """gunicorn as deploy/gunicorn.conf.py runs it, four worker processes, on the embedded
    default with no REDIS_URL and DEBUG left to its default."""
    data_dir = tmp_path_factory.mktemp("embedded")
    port = _free_port()
    env = _embedded_env(data_dir, HOST="127.0.0.1", WEB_PORT=str(port), WEB_CONCURRENCY="4", WEB_THREADS="2")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True,
                   timeout=300)
    log_path = data_dir / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                   "storage_site.wsgi"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", server, log_path)
        yield f"http://127.0.0.1:{port}", server, data_dir
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _worker_pids(server: subprocess.Popen) -> set[int]:
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.pid:  # the parent's pid
            pids.add(int(stat.parent.name))
    return pids


@embedded_only
def test_the_sign_in_limit_holds_across_gunicorns_workers_without_redis(embedded_gunicorn):
    """20 password sign-ins a minute per address, however the 40 attempts spread over the
    four worker processes (each on a new connection): a per-process cache let 38 through."""
    base, server, data_dir = embedded_gunicorn
    assert len(_worker_pids(server)) == 4
    statuses = []
    for attempt in range(40):
        with requests.Session() as session:  # a new connection each time: any worker may take it
            resp = session.post(f"{base}/storage/api/v5/login/", headers={"Connection": "close"}, timeout=30,
                                json={"email": f"nobody{attempt}@example.com", "password": "wrong-password"})
        statuses.append(resp.status_code)
    assert statuses[:20] == [401] * 20, statuses
    assert statuses[20:] == [429] * 20, statuses
    assert any((data_dir / "cache").iterdir()), "the shared cache lives in DATA_DIR/cache"


@embedded_only
def test_debug_is_off_by_default_and_an_unknown_host_gets_a_plain_400(embedded_gunicorn):
    base, server, data_dir = embedded_gunicorn
    resp = requests.get(f"{base}/api/files/list", headers={"Host": "attacker.example"}, timeout=30)
    assert resp.status_code == 400
    assert resp.text == "Bad Request (400): unknown host.\n"
    missing = requests.get(f"{base}/no/such/page", timeout=30)
    assert missing.status_code == 404 and "URLconf" not in missing.text  # DEBUG's 404 page lists every route
    # The secret key was generated once into DATA_DIR, as before, with DEBUG off.
    key = data_dir / ".secret_key"
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"
    assert not list(data_dir.glob(".secret_key.*"))


def test_an_unknown_host_never_gets_the_debug_page_even_in_development(api_client, settings):
    """`make dev` turns DEBUG on; Django would then answer a foreign Host (a DNS-rebinding
    page, say) with its debug page, settings and environment included."""
    settings.DEBUG = True
    resp = api_client.get("/api/files/list", HTTP_HOST="attacker.example")
    assert resp.status_code == 400
    assert resp.content == b"Bad Request (400): unknown host.\n"
    assert api_client.get("/healthz").status_code == 200  # a known host is served as before
