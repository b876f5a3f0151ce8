"""Phase `transfer`: 1 GiB up and down through the API, against boto3 put and get in the same
run."""

import hashlib
import os
import statistics
import time
from pathlib import Path

import requests

from bench.uploads import MultipartFile

from .common import BUCKET, MIB, SERVER_TRANSFER, log
from .procs import RssSampler, proc_children, proc_status
from .stack import Gunicorn, Stack


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
    """One GET streamed in 1 MiB reads through urllib3 and hashed as it arrives: the client
    of the API download reads the same way (requests' iter_content, urllib3, 1 MiB)."""
    started, cpu = time.perf_counter(), time.thread_time()
    digest, received = hashlib.sha256(), 0
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
    for chunk in body.iter_chunks(MIB):
        digest.update(chunk)
        received += len(chunk)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "mib_s": round(size / MIB / seconds, 1),
            "client_cpu_s": round(time.thread_time() - cpu, 2),
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
            started, cpu = time.perf_counter(), time.thread_time()
            with session.get(f"{server.url}/api/files/{file_id}/download", headers={"Authorization": f"Bearer {token}"},
                             stream=True, timeout=(5, 120)) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"download answered {response.status_code}: {response.text[:500]}")
                for chunk in response.iter_content(MIB):
                    if first_byte is None:
                        first_byte = time.perf_counter()
                    digest.update(chunk)
                    received += len(chunk)
            finished, cpu = time.perf_counter(), time.thread_time() - cpu
    finally:
        rss = sampler.finish()
    seconds = finished - started
    worker = rss["workers"].get(str(rss["handling_worker_pid"]), {})
    return {"seconds": round(seconds, 3), "mib_s": round(size / MIB / seconds, 1), "client_cpu_s": round(cpu, 2),
            "worker_cpu_s": worker.get("cpu_s"), "ttfb_ms": round((first_byte - started) * 1000, 1) if first_byte else None,
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
    out["median_cpu_s"] = {"boto3_get_client": statistics.median(r["client_cpu_s"] for r in runs["boto3_get"]),
                           "api_download_client": statistics.median(r["client_cpu_s"] for r in runs["api_download"]),
                           "api_download_worker": statistics.median(r["worker_cpu_s"] or 0 for r in runs["api_download"])}
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
