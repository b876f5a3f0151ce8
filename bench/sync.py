#!/usr/bin/env python
"""MegaVault delta sync benchmark (issue 6, "Speed"): a user with 100,000 journal
entries; how long a 500-change page of `GET /api/mobile/sync/status` takes through
the HTTP API of a real server (gunicorn), and how many SQL queries a page runs.

    .venv/bin/python -m bench.sync                       # SQLite in a temp folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sync .venv/bin/python -m bench.sync

With a PostgreSQL URL the database is created if missing and dropped at the end if
this run created it; its name must start with `bench` (the run fills it with bench
data). Writes bench/results_sync.json. Target: p95 ≤ 100 ms on PostgreSQL, and the
same number of queries per page at every page size.

Steps:
1. A Django subprocess (this module with `--step seed`) migrates the database and
   loads one user: 1,000 folders three levels deep, 20,000 files, and 100,000 journal
   rows (a create for every node, then renames, moves and new versions of random
   files) through `bulk_create`; then signs the user in and makes sync tokens at
   random journal positions (`files.services.sync.cursor`). On PostgreSQL it runs
   `VACUUM ANALYZE` afterwards, as autovacuum would have by then.
2. gunicorn starts as bench/run/ starts it (gthread, 2 workers × 4 threads).
3. 10 untimed requests, then `--requests` pages (`limit=500`) from random tokens,
   timed on the client from send to the last byte, one keep-alive connection.
4. Queries per page: the Django test client under `CaptureQueriesContext` at limit
   10, 100, 500 and 1000 (`--step queries`).
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results_sync.json"
PYTHON = sys.executable
TARGET_P95_MS = 100
PAGE = 500


def log(message: str) -> None:
    print(f"[bench.sync] {message}", file=sys.stderr, flush=True)


def percentile(values, p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# --- Django side (subprocesses) -------------------------------------------------------------------

def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storage_site.settings")
    import django

    django.setup()


def step_seed(args) -> dict:
    _django()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Client, User
    from accounts.services import _sign_in
    from folders import services as tree
    from folders.models import Change, ChangeAction, Node, NodeKind
    from files.services.sync import cursor as cursors

    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    name = f"sync-bench-{time.time_ns()}"
    user = User.objects.create(username=name, email=f"{name}@example.com", storage_quota=1024**4)
    home = tree.home_get(user=user)

    def bulk(parents, count, kind, prefix):
        folder = kind == NodeKind.FOLDER
        nodes = [Node(owner=user, parent=parents[i % len(parents)], kind=kind, name=f"{prefix}{i}",
                      depth=parents[i % len(parents)].depth + 1, size=0 if folder else 1000 + i,
                      version=0 if folder else 1, sha256="" if folder else f"{i:064x}",
                      category="folder" if folder else "document", mime_type="" if folder else "text/plain")
                 for i in range(count)]
        Node.objects.bulk_create(nodes, batch_size=2000)
        for node in nodes:
            node.path = f"{node.parent.path}{node.pk}/"
        Node.objects.bulk_update(nodes, ["path"], batch_size=2000)
        return nodes

    level1 = bulk([home], 10, NodeKind.FOLDER, "dir")
    level2 = bulk(level1, 90, NodeKind.FOLDER, "sub")
    level3 = bulk(level2, args.folders - 100, NodeKind.FOLDER, "leaf")
    folders = level1 + level2 + level3
    files = bulk(folders, args.files, NodeKind.FILE, "file-")
    by_pk = {node.pk: node for node in [home, *folders, *files]}

    rows, seq = [], 0

    def add(node, action, **state):
        nonlocal seq
        seq += 1
        parent = by_pk[state.get("parent_id", node.parent_id)]
        rows.append(Change(owner=user, seq=seq, node_uuid=node.uuid, kind=node.kind, action=action,
                           name=state.get("name", node.name), parent_uuid=parent.uuid, size=node.size,
                           version=state.get("version", node.version), sha256=node.sha256))

    for node in [*folders, *files]:
        add(node, ChangeAction.CREATE)
    versions = {node.pk: 1 for node in files}
    while seq < args.entries:
        node = rng.choice(files)
        roll = rng.random()
        if roll < 0.4:
            add(node, ChangeAction.RENAME, name=f"{node.name}.r{seq}")
        elif roll < 0.6:
            add(node, ChangeAction.MOVE, parent_id=rng.choice(folders).pk)
        else:
            versions[node.pk] += 1
            add(node, ChangeAction.UPDATE, version=versions[node.pk])
    for start in range(0, len(rows), 5000):
        Change.objects.bulk_create(rows[start:start + 5000])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE folders_change")
            cursor.execute("VACUUM ANALYZE folders_node")
    session = _sign_in(user, client=Client.WEB, ip_address="127.0.0.1", user_agent="bench.sync")
    positions = [rng.randrange(0, args.entries - PAGE) for _ in range(args.requests + 20)]
    journal = {row["seq"]: row for row in cursors.stamped(Change.objects.filter(owner=user, seq__in=positions))
               .values("seq", "id", "stamp")}
    tokens = []
    for position in positions:
        row = journal.get(position)
        mark = cursors.fingerprint(row["id"], row["stamp"]) if row else 0
        tokens.append(cursors.token_dump(user, cursors.Cursor(position, mark)))
    return {"user_id": user.pk, "access": session.access, "tokens": tokens, "entries": seq,
            "nodes": len(by_pk), "vendor": connection.vendor}


def step_queries(args) -> dict:
    _django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from files.services.sync import cursor as cursors

    user = User.objects.get(pk=args.user_id)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {args.access}")
    token = cursors.token_dump(user, cursors.Cursor(0, 0))
    counts = {}
    for limit in (10, 100, 500, 1000):
        with CaptureQueriesContext(connection) as captured:
            resp = client.get("/api/mobile/sync/status", {"syncToken": token, "limit": limit},
                              HTTP_HOST="127.0.0.1")
        assert resp.status_code == 200, resp.content[:300]
        counts[str(limit)] = {"queries": len(captured),
                              "sql": [query["sql"][:300] for query in captured.captured_queries]}
    return counts


def run_step(env: dict, step: str, **kwargs) -> dict:
    command = [PYTHON, "-m", "bench.sync", "--step", step]
    for key, value in kwargs.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the driver -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_admin(url: str):
    import psycopg

    parts = urlparse(url)
    return psycopg.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                           user=parts.username or "postgres", password=parts.password, dbname="postgres",
                           autocommit=True, connect_timeout=5)


def prepare_database(url: str | None) -> bool:
    """Create the PostgreSQL database when missing; True when this run created it."""
    if not url:
        return False
    name = urlparse(url).path.lstrip("/")
    if not name.startswith("bench"):
        raise SystemExit(f"refusing to fill database {name!r}: its name must start with 'bench'")
    with pg_admin(url) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        admin.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with pg_admin(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server(env: dict, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log_path = workdir / "gunicorn.log"
    output = open(log_path, "ab")
    server = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "storage_site.wsgi:application", "--chdir", str(ROOT),
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread", "--threads", "4",
         "--timeout", "120", "--no-control-socket", "--worker-tmp-dir", str(workdir),
         "--log-level", "warning", "--error-logfile", str(log_path)],
        env=env, cwd=ROOT, start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + log_path.read_text()[-3000:])
        try:
            requests.get(f"{url}/api/mobile/sync/status", timeout=2)
            return server, url
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer in 60 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def measure(url: str, access: str, tokens: list[str], requests_count: int) -> dict:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {access}"
    endpoint = f"{url}/api/mobile/sync/status"

    def page(token):
        started = time.perf_counter()
        resp = session.get(endpoint, params={"syncToken": token, "limit": PAGE}, timeout=60)
        body = resp.content
        elapsed = (time.perf_counter() - started) * 1000
        if resp.status_code != 200:
            raise RuntimeError(f"{resp.status_code}: {body[:300]!r}")
        data = json.loads(body)["data"]
        entries = sum(len(data["changes"][key]) for key in ("created", "updated", "deleted"))
        return elapsed, entries, len(body)

    for token in tokens[:10]:
        page(token)
    samples = [page(token) for token in tokens[10:10 + requests_count]]
    latencies = [s[0] for s in samples]
    return {"requests": len(samples), "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(percentile(latencies, 95), 2), "p99_ms": round(percentile(latencies, 99), 2),
            "max_ms": round(max(latencies), 2),
            "mean_entries_per_page": round(statistics.mean(s[1] for s in samples), 1),
            "mean_body_bytes": round(statistics.mean(s[2] for s in samples))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", choices=("seed", "queries"), help=argparse.SUPPRESS)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=1_000)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--user-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--access", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.step == "seed":
        print(json.dumps(step_seed(args), default=str))
        return
    if args.step == "queries":
        print(json.dumps(step_queries(args)))
        return

    url = os.environ.get("DATABASE_URL")
    workdir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "bench-sync-" + "x" * 40, "ALLOWED_HOSTS": "127.0.0.1",
           "DATA_DIR": str(workdir)}
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        env.pop(name, None)
    created = prepare_database(url)
    server = None
    try:
        log(f"seeding {args.entries} journal entries ({'PostgreSQL' if url else 'SQLite'}) ...")
        started = time.monotonic()
        seeded = run_step(env, "seed", entries=args.entries, folders=args.folders, files=args.files,
                          requests=args.requests, seed=args.seed)
        log(f"seeded in {time.monotonic() - started:.0f} s; starting gunicorn")
        server, server_url = start_server(env, workdir)
        latency = measure(server_url, seeded["access"], seeded["tokens"], args.requests)
        log(f"p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms")
        queries = run_step(env, "queries", user_id=seeded["user_id"], access=seeded["access"])
        per_limit = {limit: q["queries"] for limit, q in queries.items()}
        result = {
            "benchmark": "GET /api/mobile/sync/status, limit=500, random journal positions",
            "database": seeded["vendor"], "journal_entries": seeded["entries"], "nodes": seeded["nodes"],
            "latency": latency, "target_p95_ms": TARGET_P95_MS,
            "meets_target": latency["p95_ms"] <= TARGET_P95_MS if seeded["vendor"] == "postgresql" else None,
            "queries_per_page": per_limit, "queries_constant": len(set(per_limit.values())) == 1,
            "queries_sql": {limit: q["sql"] for limit, q in queries.items()},
            "server": "gunicorn gthread, 2 workers x 4 threads", "cpus": os.cpu_count(),
            "load_average_after": os.getloadavg(),
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        log(f"queries per page {per_limit}; wrote {args.out}")
        print(json.dumps({k: v for k, v in result.items() if k != "queries_sql"}, indent=2))
    finally:
        if server is not None:
            stop_server(server)
        if created:
            drop_database(url)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
