"""Phase `peer`: copyparty against Stratus on local storage, same machine, same file."""

import os
import statistics
import subprocess
import time

import requests

from bench import peer as peer_module

from .common import PYTHON, ROOT, log
from .stack import Copyparty, Gunicorn, Stack
from .transfer import api_download, api_upload, make_source


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
