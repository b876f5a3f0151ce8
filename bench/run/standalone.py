"""Phases `sync_pages`, `previews` and `load_run`: run by their own modules (bench.sync,
bench.previews, bench.load) against the same stack."""

import json
import os
import subprocess
import time
from pathlib import Path

from bench import load as load_run_module

from .common import BENCH, PYTHON, ROOT
from .stack import Stack, run_task


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
