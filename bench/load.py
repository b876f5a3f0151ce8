"""The load run: many concurrent clients on loopback mixing sign-in, list, search,
upload and download against the real server for a fixed time.

Each client is a thread with its own HTTP session and its own user. Every answer
that is not 2xx, and every exception, counts as an error; every download is hashed
and compared with what that client uploaded, so a wrong byte is an error too.

Afterwards, given the server's environment, the storage invariant sweep runs against
the same database and bucket (`manage.py check_invariants`): every file a client got
a 201 for downloads with its SHA-256, the clients' usage is exact, no object lacks a
row. A broken invariant is reported as the phase's failure.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

PASSWORD = "load-run-password-1"
# Weights of the operations in the mix.
# A sign-in hashes a password (PBKDF2, ~0.5 s of CPU by design), so it is a small share.
MIX = (("sign_in", 2), ("list", 33), ("search", 20), ("upload", 20), ("download", 25))
UPLOAD_BYTES = 64 * 1024
ROOT = Path(__file__).resolve().parent.parent
INVARIANTS_REHASH = 20  # blobs read whole again (the downloads re-read every file the clients made)


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def at(p):
        return round(ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))], 1)
    return {"p50": at(50), "p95": at(95), "p99": at(99), "max": round(ordered[-1], 1)}


class LoadClient(threading.Thread):
    def __init__(self, base_url: str, email: str, seed: int, start: threading.Barrier, seconds: float):
        super().__init__(daemon=True)
        self.base_url, self.email, self.start_line, self.seconds = base_url, email, start, seconds
        self.rng = random.Random(seed)
        self.http = requests.Session()
        self.samples: list[tuple[str, float, int]] = []  # (operation, ms, status)
        self.errors: list[str] = []
        self.uploaded: dict[str, str] = {}  # file id → sha256

    def _timed(self, operation: str, method: str, path: str, check=None, **kwargs):
        started = time.perf_counter()
        try:
            resp = self.http.request(method, self.base_url + path, timeout=60, **kwargs)
            status = resp.status_code
            problem = None if 200 <= status < 300 else f"{operation}: HTTP {status} {resp.text[:200]}"
            if problem is None and check:
                problem = check(resp)
        except requests.RequestException as exc:
            resp, status, problem = None, 0, f"{operation}: {type(exc).__name__}: {exc}"
        self.samples.append((operation, (time.perf_counter() - started) * 1000, status))
        if problem:
            self.errors.append(problem)
        return resp

    def sign_in(self) -> None:
        resp = self._timed("sign_in", "POST", "/storage/api/v5/login/",
                           json={"email": self.email, "password": PASSWORD})
        if resp is not None and resp.ok:
            self.http.headers["Authorization"] = f"Bearer {resp.json()['access']}"

    def run(self) -> None:
        self.sign_in()  # before the clock starts: the run measures signed-in traffic plus its sign-in share
        self.samples.clear()
        self.start_line.wait()
        stop_at = time.monotonic() + self.seconds
        operations = [name for name, weight in MIX for _ in range(weight)]
        while time.monotonic() < stop_at:
            getattr(self, "op_" + self.rng.choice(operations))()

    def op_sign_in(self):
        self.sign_in()

    def op_list(self):
        self._timed("list", "GET", "/api/files/list", params={"pageSize": 50})

    def op_search(self):
        self._timed("search", "GET", "/api/search", params={"q": self.rng.choice(["load", "file", "bin", "a"])})

    def op_upload(self):
        data = os.urandom(UPLOAD_BYTES)
        name = f"load-{self.rng.getrandbits(48):x}.bin"
        resp = self._timed("upload", "POST", "/api/files/upload",
                           files={"file": (name, data, "application/octet-stream")})
        if resp is not None and resp.status_code == 201:
            self.uploaded[resp.json()["data"]["id"]] = hashlib.sha256(data).hexdigest()

    def op_download(self):
        if not self.uploaded:
            return self.op_upload()
        file_id, sha = self.rng.choice(list(self.uploaded.items()))

        def same_bytes(resp):
            return None if hashlib.sha256(resp.content).hexdigest() == sha else f"download: wrong bytes of {file_id}"
        self._timed("download", "GET", f"/api/files/{file_id}/download", check=same_bytes)


def load_run(base_url: str, emails: list[str], seconds: float, env: dict | None = None) -> dict:
    """Run the clients; with `env` (the server's environment) sweep the invariants after."""
    start = threading.Barrier(len(emails) + 1)
    clients = [LoadClient(base_url, email, seed, start, seconds) for seed, email in enumerate(emails)]
    for client in clients:
        client.start()
    start.wait(timeout=600)  # every client signed in
    started = time.perf_counter()
    for client in clients:
        client.join(seconds + 120)
    wall = time.perf_counter() - started
    samples = [s for c in clients for s in c.samples]
    errors = [e for c in clients for e in c.errors]
    by_operation = {}
    for name, _weight in MIX:
        times = [ms for op, ms, _status in samples if op == name]
        by_operation[name] = {"requests": len(times), **_percentiles(times)}
    result = {
        "clients": len(clients), "seconds": round(wall, 1), "requests": len(samples),
        "requests_per_second": round(len(samples) / wall, 1), "errors": len(errors),
        "error_samples": errors[:20], "latency_ms": _percentiles([ms for _op, ms, _status in samples]),
        "by_operation": by_operation, "files_uploaded": sum(len(c.uploaded) for c in clients),
        "still_running": sum(client.is_alive() for client in clients),
    }
    if env is not None:
        if result["still_running"]:
            result["invariants"] = "not checked: clients still running"
        else:
            result.update(invariants_sweep(env, clients))
            if result["invariants"] != "ok":
                result["failed"] = {"invariants": "\n".join(result["invariants"]["failures"])}
    return result


def invariants_sweep(env: dict, clients: list[LoadClient]) -> dict:
    """`manage.py check_invariants` with the server's environment, once every request has
    been answered: the clients' files and usage, every blob and object of the bucket."""
    files_ok = [{"user": c.email, "id": file_id, "sha256": sha} for c in clients for file_id, sha in c.uploaded.items()]
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="files-ok-") as fh:
        json.dump(files_ok, fh)
        fh.flush()
        args = [sys.executable, "manage.py", "check_invariants", "--json", "--files-ok", fh.name,
                "--rehash", str(INVARIANTS_REHASH)]
        for client in clients:  # the per-user checks cover the load users; other phases seed rows by hand
            args += ["--user", client.email]
        proc = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    seconds = round(time.perf_counter() - started, 1)
    try:
        verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        verdict = {"ok": False, "failures": [f"check_invariants exited {proc.returncode}: {proc.stderr[-2000:]}"]}
    return {"invariants": "ok" if verdict["ok"] else {"count": len(verdict["failures"]),
                                                        "failures": verdict["failures"][:50]},
            "invariants_files_checked": len(files_ok), "invariants_seconds": seconds}
