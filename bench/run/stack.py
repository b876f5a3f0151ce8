"""The stack under test: SeaweedFS, PostgreSQL database, gunicorn, Celery worker, copyparty."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import traceback
from pathlib import Path

import psycopg
import requests

from bench import peer as peer_module
from storage_site.testing.seaweedfs import SeaweedFS

from .common import (
    BENCH, BROKER_URL, BUCKET, CONTENT, DATABASE_URL, DB_NAME, PG_ADMIN, PYTHON, ROOT, free_port,
    log,
)
from .procs import proc_children, unix_socket_paths


def run_task(env: dict, command: str, args: dict, timeout: float) -> dict:
    """Run a bench/django_tasks.py command with the server's environment; its last line is JSON."""
    proc = subprocess.run([PYTHON, str(BENCH / "django_tasks.py"), command, json.dumps(args)], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"django_tasks {command} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class BenchProcess:
    """A service the bench starts in its own process group with the server's environment,
    logging to a file; `start` waits until `ready()`, `stop` leaves nothing behind."""

    name = "process"

    def __init__(self, env: dict, log_path: Path, args: list[str]):
        self.env, self.log_path, self.args = env, log_path, args
        self.process = None

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 60):
        with open(self.log_path, "ab") as log_fh:
            self.process = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=log_fh,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            if self.ready():
                return self
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} was not ready within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> None:
        if not self.process:
            return
        if self.process.poll() is None:
            self.process.terminate()  # graceful: gunicorn stops its workers, Celery finishes its task
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the group we started (its children, if the main process died first)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class Gunicorn(BenchProcess):
    name = "gunicorn"

    def __init__(self, env: dict, workdir: Path, *, workers: int, threads: int):
        self.workers, self.threads = workers, threads
        self.port = free_port()
        log_path = workdir / "gunicorn.log"
        # Production's config file (deploy/gunicorn.conf.py: gthread, malloc settings); the
        # options below take precedence over it.
        super().__init__(env, log_path, [
            PYTHON, "-m", "gunicorn", "storage_site.wsgi:application", "--chdir", str(ROOT),
            "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--worker-class", "gthread",
            "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "10",
            "--no-control-socket", "--worker-tmp-dir", str(workdir), "--log-level", "warning",
            "--error-logfile", str(log_path),
        ])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            requests.get(f"{self.url}/api/files/list", timeout=2)  # 401 is fine: the app answers
        except requests.RequestException:
            return False
        return len(proc_children(self.process.pid)) >= self.workers


class Copyparty(BenchProcess):
    name = "copyparty"

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.folder = workdir / "copyparty"
        self.folder.mkdir()
        super().__init__(dict(os.environ), workdir / "copyparty.log", peer_module.copyparty_args(self.port,
                                                                                                 self.folder))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return requests.get(self.url + "/", timeout=2).status_code < 500
        except requests.RequestException:
            return False


class CeleryWorker(BenchProcess):
    """`celery -A storage_site worker --concurrency=1` with the server's environment: the
    process that assembles big chunked uploads. Its log (level info) gives each task's
    arrival and run time."""

    name = "the Celery worker"
    TASK_LINE = re.compile(r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[^\]]+\] Task "
                           r"(?P<task>[\w.]+)\[(?P<id>[\w-]+)\] (?:(?P<received>received)|"
                           r"succeeded in (?P<seconds>[\d.]+)s)")

    def __init__(self, env: dict, workdir: Path):
        # No gossip, mingle or heartbeat: it neither waits for nor talks to other workers on the broker.
        super().__init__(env, workdir / "celery.log", [
            PYTHON, "-m", "celery", "-A", "storage_site", "worker", "--concurrency=1", "-l", "info",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"stratus-bench-{os.getpid()}@%h"])

    def ready(self) -> bool:
        return " ready." in self.log_tail(20_000) and bool(proc_children(self.process.pid))

    def log_offset(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def tasks_since(self, offset: int) -> list[dict]:
        """Tasks the log shows from byte `offset` on: when each arrived (epoch seconds) and how long it ran."""
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
        tasks = {}
        for line in text.splitlines():
            match = self.TASK_LINE.match(line)
            if not match:
                continue
            row = tasks.setdefault(match["id"], {"task": match["task"]})
            if match["received"]:
                stamp, millis = match["at"].split(",")
                row["received_at"] = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
            else:
                row["run_s"] = float(match["seconds"])
        return list(tasks.values())


def broker_clear(url: str) -> dict:
    """Delete what Celery keeps in the bench's Redis database (its queue, kombu's bindings,
    unacked messages): leftovers of an interrupted run would be delivered to this one."""
    import redis  # Celery's Redis transport

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        keys = {key for pattern in ("celery", "_kombu.*", "unacked*")
                for key in client.scan_iter(match=pattern)}
        if keys:
            client.delete(*keys)
        return {"cleared_keys": len(keys), "other_keys": client.dbsize(),
                "redis": client.info("server").get("redis_version")}
    finally:
        client.close()


def pg_admin(sql: str, *, dbname: str = "postgres") -> None:
    """One statement as the PostgreSQL superuser, outside a transaction (CREATE DATABASE, ANALYZE)."""
    with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={dbname}"), autocommit=True) as conn:
        conn.execute(sql)


def db_drop() -> None:
    pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


class Stack:
    """SeaweedFS + a fresh, migrated `stratus_bench` + bench users + gunicorn + a Celery worker
    (when there is a broker). `close()` stops only what `start()` started, drops the database,
    clears the broker's Celery keys, removes the scratch folder."""

    def __init__(self, *, workers: int, threads: int, conn_max_age: int | None = None,
                 server_env: dict | None = None, broker: str | None = BROKER_URL):
        self.workers, self.threads, self.conn_max_age = workers, threads, conn_max_age
        self.server_env = server_env or {}
        self.broker = broker
        self.broker_info = None
        self.workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
        self.weed = self.server = self.worker = None
        self.weed_sockets: set[str] = set()
        self.env = self.users = None
        self.migrate_seconds = None

    @property
    def database_url(self) -> str:
        """The README's form; `conn_max_age` (django-environ reads it from the URL) only when asked."""
        if self.conn_max_age is None:
            return DATABASE_URL
        return f"{DATABASE_URL}?conn_max_age={self.conn_max_age}"

    def start(self) -> "Stack":
        self._start_weed()
        self.weed.create_bucket(BUCKET)
        self.weed.client().put_object(Bucket=BUCKET, Key="bench/listing-shared", Body=CONTENT)
        log(f"SeaweedFS on {self.weed.endpoint_url} (pid {self.weed.process.pid})")

        if self.broker:
            try:
                self.broker_info = broker_clear(self.broker)  # a leftover of an interrupted run
            except Exception as exc:
                raise RuntimeError(f"the Celery broker {self.broker} is unreachable ({exc}); start Redis "
                                   "or pass --broker none (tasks then run inside gunicorn)") from exc
            log(f"broker {self.broker}: {self.broker_info}")
        db_drop()  # a leftover of an interrupted run
        pg_admin(f"CREATE DATABASE {DB_NAME}")
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")
               and not k.startswith("AWS_")}
        env.update({
            "DJANGO_SETTINGS_MODULE": "storage_site.settings", "DEBUG": "false",
            "SECRET_KEY": "bench-" + os.urandom(24).hex(), "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DATA_DIR": str(self.workdir / "data"), "DATABASE_URL": self.database_url, "STORAGE_BACKEND": "s3",
            "AWS_S3_ENDPOINT_URL": self.weed.endpoint_url, "AWS_ACCESS_KEY_ID": self.weed.access_key,
            "AWS_SECRET_ACCESS_KEY": self.weed.secret_key, "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_REGION_NAME": "us-east-1", "UPLOAD_MAX_SIZE": str(64 * 1024**3),
            "DEFAULT_STORAGE_QUOTA": str(1024**4), "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
            # The load run signs its clients in from one address, far faster than a person.
            "THROTTLE_PASSWORD_LOGIN": "100000/min",
        })
        if self.broker:
            env["CELERY_BROKER_URL"] = self.broker
        self.env = env
        started = time.perf_counter()
        proc = subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{proc.stderr[-4000:]}")
        self.migrate_seconds = round(time.perf_counter() - started, 1)
        log(f"database {DB_NAME} migrated in {self.migrate_seconds} s")
        # As deploy/web.sh does: WhiteNoise serves what collectstatic wrote (and its gzip copies).
        proc = subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"collectstatic failed:\n{proc.stderr[-4000:]}")

        self.users = run_task(env, "users", {"usernames": ["bench", "bench-search"]}, timeout=120)
        self.server = Gunicorn({**env, **self.server_env}, self.workdir, workers=self.workers,
                               threads=self.threads)
        self.server.start()  # assigned first, so close() stops it even if it never answers
        log(f"gunicorn on {self.server.url} (master pid {self.server.process.pid}, workers "
            f"{proc_children(self.server.process.pid)})")
        if self.broker:
            self.worker = CeleryWorker({**env, **self.server_env}, self.workdir)
            self.worker.start()
            log(f"Celery worker pid {self.worker.process.pid} (pool {proc_children(self.worker.process.pid)})")
        return self

    def _start_weed(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            self.weed = SeaweedFS()
            # `weed` listens for S3 gRPC on the S3 port + 10000: keep that a valid port.
            while self.weed.s3_port + 10000 > 65535:
                self.weed.s3_port = free_port()
            try:
                self.weed.start()
                self.weed_sockets |= unix_socket_paths(self.weed.process.pid)
                return
            except RuntimeError:
                self._stop_weed()
                if attempt == attempts - 1:
                    raise
                log("SeaweedFS did not start; trying other ports")

    def _stop_weed(self) -> None:
        if self.weed.process is not None and self.weed.process.poll() is None:
            self.weed_sockets |= unix_socket_paths(self.weed.process.pid)
        self.weed.stop()
        for path in self.weed_sockets:  # weed leaves its unix sockets in /tmp
            with contextlib.suppress(OSError):
                os.remove(path)
        self.weed_sockets = set()

    def close(self, *, keep_logs: bool = False) -> dict:
        logs = {}
        if self.server is not None:
            if keep_logs:
                logs["gunicorn_log_tail"] = self.server.log_tail()
            self.server.stop()
        if self.worker is not None:
            if keep_logs:
                logs["celery_log_tail"] = self.worker.log_tail()
            self.worker.stop()
        if self.broker:
            try:
                broker_clear(self.broker)
            except Exception:
                log(f"could not clear the broker {self.broker}: {traceback.format_exc()}")
        if self.weed is not None:
            if keep_logs:
                try:
                    logs["weed_log_tail"] = Path(self.weed.log_path).read_text(errors="replace")[-3000:]
                except (OSError, AttributeError):
                    pass
            self._stop_weed()
        try:  # also after a failed CREATE: DROP ... IF EXISTS
            db_drop()
        except Exception:
            log(f"could not drop {DB_NAME}: {traceback.format_exc()}")
        shutil.rmtree(self.workdir, ignore_errors=True)
        return logs
