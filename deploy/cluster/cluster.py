"""The cluster of `make cluster-test`: Stratus past one machine, every part its own process
on 127.0.0.1 and a free port, started and stopped here (nothing is left running).

    nginx ─┬─ gunicorn node A (DATA_DIR a/)      Celery worker 1 (DATA_DIR worker1/)
           └─ gunicorn node B (DATA_DIR b/)      Celery worker 2 (DATA_DIR worker2/)
    PostgreSQL (a database of its own)  ·  Redis (its own redis-server: cache, throttles, broker)
    SeaweedFS: one master, three volume servers (replication 001), a filer with its S3 gateway

No two nodes share a local disk: whatever works through one node and not the other lives in one
process or on one node's disk. Ports and folders are chosen once, so `stop()` then `start()`
brings the same cluster back on the same data.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests

ROOT = Path(__file__).resolve().parents[2]  # the project
sys.path.insert(0, str(ROOT))

from storage_site.testing.faults import CELERY_AFTER_SETUP  # noqa: E402
from storage_site.testing.seaweedfs import SeaweedFSCluster, _free_port  # noqa: E402

BUCKET = "stratus-cluster"
NODES = ("a", "b")
WORKERS = ("worker1", "worker2")
# What the scenarios tune: small enough to reach the worker and the throttle quickly.
SETTINGS = {
    "UPLOAD_ASSEMBLE_INLINE_MAX": str(8 * 1024 * 1024),  # bigger chunked uploads go to a worker
    "UPLOAD_ASSEMBLY_STALE_SECONDS": "6",  # a dead worker's assembly is taken over after this
    "THROTTLE_SHARE_PASSWORD": "4/min",
    "TRUST_X_FORWARDED_PROTO": "true",  # as behind TLS; nginx sets the header itself
}


class Process:
    """One child process in a session of its own, so killing it takes its children too."""

    def __init__(self, name: str, command: list[str], *, env: dict, log: Path, cwd: Path = ROOT):
        self.name, self.command, self.env, self.log, self.cwd = name, command, env, log, cwd
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30, wait: bool = True) -> None:
        if not self.alive:
            return
        os.killpg(self.popen.pid, sig)
        if not wait:
            return
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def kill(self) -> None:
        """SIGKILL to the whole group: the machine is gone, nothing is cleaned up."""
        self.stop(signal.SIGKILL)

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""


class Cluster:
    def __init__(self, root: Path, database_url: str):
        self.root = root
        self.database_url = database_url
        self.redis_port, self.nginx_port = _free_port(), _free_port()
        self.node_ports = {name: _free_port() for name in NODES}
        self.weed = SeaweedFSCluster(str(root / "seaweedfs"), volumes=3, replication="001")
        self.processes: dict[str, Process] = {}
        self.files_ok: list[dict] = []  # every file a client got a 2xx for: checked after each scenario

    # --- addresses ------------------------------------------------------------------------

    def url(self, node: str) -> str:
        """`a`, `b` (one node, directly) or `proxy` (nginx, either node)."""
        port = self.nginx_port if node == "proxy" else self.node_ports[node]
        return f"http://127.0.0.1:{port}"

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/1"

    def env(self, data_dir: str, database_url: str | None = None, **extra) -> dict:
        """The environment of every Stratus process: only DATA_DIR differs between them."""
        folder = self.root / data_dir
        folder.mkdir(parents=True, exist_ok=True)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("AWS_", "DJANGO_", "CELERY_", "PYTEST")) and key not in (
                   "DATABASE_URL", "REDIS_URL", "STORAGE_BACKEND", "PREVIEW_QUEUE")}
        env.update(
            DATA_DIR=str(folder), DEBUG="false", SECRET_KEY="cluster-test-secret-key-not-for-production",
            ALLOWED_HOSTS="127.0.0.1,localhost", NUM_PROXIES="1",  # nginx sets X-Forwarded-For
            SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false", LOG_LEVEL="WARNING",
            DATABASE_URL=database_url or self.database_url,
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0", CELERY_BROKER_URL=self.broker_url,
            STORAGE_BACKEND="s3", AWS_S3_ENDPOINT_URL=self.weed.endpoint_url,
            AWS_ACCESS_KEY_ID=self.weed.access_key, AWS_SECRET_ACCESS_KEY=self.weed.secret_key,
            AWS_STORAGE_BUCKET_NAME=BUCKET, PYTHONUNBUFFERED="1", **SETTINGS, **extra)
        return env

    # --- the parts ------------------------------------------------------------------------

    def _process(self, name: str, command: list[str], env: dict) -> Process:
        process = Process(name, command, env=env, log=self.root / f"{name}.log")
        self.processes[name] = process
        process.start()
        return process

    def redis_start(self) -> None:
        folder = self.root / "redis"
        folder.mkdir(exist_ok=True)
        # Append-only: queued tasks survive a restart of Redis, as a broker's should.
        self._process("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "yes", "--dir", str(folder)], os.environ.copy())
        self._wait(self._redis_answers, "redis")

    def node_start(self, name: str, wait: bool = True) -> None:
        env = self.env(name, HOST="127.0.0.1", WEB_PORT=str(self.node_ports[name]), WEB_CONCURRENCY="1",
                       WEB_THREADS="4")
        self._process(name, ["bash", "deploy/web.sh"], env)  # as a production node starts (exec gunicorn)
        if wait:
            self.node_wait(name)

    def node_wait(self, name: str) -> None:
        self._wait(lambda: self._answers(self.url(name) + "/readyz"), f"node {name}")

    def worker_start(self, name: str, setup: str = "", wait: bool = True) -> Process:
        """A Celery worker (prefork, one child); `setup` is code it runs first (a fault to inject)."""
        options = ["-A", "storage_site", "worker", "--pool=prefork", "--concurrency=1", "--loglevel=WARNING",
                   "--without-gossip", "--without-mingle", f"--hostname={name}@cluster"]
        command = [sys.executable, "-c", CELERY_AFTER_SETUP.format(setup=setup)] if setup else [
            sys.executable, "-m", "celery"]
        process = self._process(name, command + options, self.env(name))
        if wait:
            self.worker_wait(name)
        return process

    def worker_wait(self, name: str) -> None:
        self._wait(lambda: self._worker_answers(name), f"worker {name}")

    def nginx_start(self) -> None:
        folder = self.root / "nginx"
        folder.mkdir(exist_ok=True)
        template = (Path(__file__).parent / "nginx.conf.template").read_text()
        config = template.format(root=folder, port=self.nginx_port, node_a=self.node_ports["a"],
                                 node_b=self.node_ports["b"],
                                 user="user root;" if os.geteuid() == 0 else "")
        (folder / "nginx.conf").write_text(config)
        self._process("nginx", [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(folder), "-c",
                                str(folder / "nginx.conf"), "-e", str(folder / "error.log")], os.environ.copy())
        self._wait(lambda: self._answers(self.url("proxy") + "/healthz"), "nginx")

    # --- the whole ------------------------------------------------------------------------

    def start(self) -> "Cluster":
        self.redis_start()
        self.weed.start()
        self.weed.create_bucket(BUCKET)
        self.manage("migrate", "--noinput", "-v", "0")
        for name in NODES:  # all of them booting at once, then each waited for
            self.node_start(name, wait=False)
        for name in WORKERS:
            self.worker_start(name, wait=False)
        for name in NODES:
            self.node_wait(name)
        for name in WORKERS:
            self.worker_wait(name)
        self.nginx_start()
        return self

    def stop(self) -> None:
        """The clients' side first, the stores last; each part gets a clean SIGTERM."""
        parts = [self.processes[name] for name in ("nginx", *NODES, *WORKERS) if name in self.processes]
        for process in parts:  # all told at once; each finishes what it is doing
            process.stop(wait=False)
        for process in parts:
            process.stop()
        self.weed.stop()
        if "redis" in self.processes:
            self.processes["redis"].stop()

    def manage(self, *args: str, database_url: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """`manage.py` with the cluster's settings, as an operator on a node would run it."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                              env=self.env("admin", database_url), timeout=600)
        if check and done.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return done

    def invariants(self, database_url: str | None = None) -> None:
        """`check_invariants` clean, with every file a client got a 2xx for downloading whole."""
        listing = self.root / "files-ok.json"
        listing.write_text(json.dumps(self.files_ok))
        done = self.manage("check_invariants", "--json", "--rehash", "-1", "--files-ok", str(listing),
                           database_url=database_url, check=False)
        report = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
        assert done.returncode == 0 and report.get("ok"), f"check_invariants:\n{done.stdout}{done.stderr}"

    # --- waiting --------------------------------------------------------------------------

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return requests.get(url, timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def _redis_answers(self) -> bool:
        import redis

        client = redis.Redis(port=self.redis_port, socket_timeout=2)
        try:
            return client.ping()
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _worker_answers(self, name: str) -> bool:
        from celery import Celery

        app = Celery(broker=self.broker_url)
        try:
            return bool(app.control.ping(destination=[f"{name}@cluster"], timeout=1))
        except Exception:  # the broker itself is still coming up
            return False
        finally:
            app.close()

    def _wait(self, ready, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            name = what.split()[-1]
            process = self.processes.get(name)
            if process is not None and not process.alive:
                raise RuntimeError(f"{what} exited:\n{process.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {timeout}s:\n{process.tail() if process else ''}")
            time.sleep(0.3)


def database_create(url: str) -> None:
    """A new, empty database named by `url` (dropped first if it is there)."""
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_maintenance(url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def database_drop(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(_maintenance(url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_with_name(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def _maintenance(url: str) -> str:
    return database_with_name(url, "postgres")


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="stratus-cluster-"))
