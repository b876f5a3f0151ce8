"""Phase `chunked_uploads`: StreamVault chunks and MegaVault presigned direct parts, against
boto3 upload_file."""

import statistics
import time
import traceback
from pathlib import Path

import psycopg
import requests

from bench import uploads

from .common import (
    BUCKET, BenchTimeout, CHUNK, CHUNKED_WARM_MIB, CHUNKS_IN_FLIGHT, DB_NAME, MIB, SERVER_TRANSFER,
    log, summary_ms,
)
from .procs import RssSampler, proc_children, proc_cpu_seconds, proc_status
from .stack import Stack
from .transfer import boto3_get, make_source


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
            # The parts alone (first part sent → last part stored) against the same baseline:
            # what a presigned direct upload is judged by, its `complete` on its own.
            "parts_ratio": round(_median(rows, "chunks_s") / base, 3),
            "round_parts_ratios": [round(r["chunks_s"] / b["seconds"], 2)
                                   for r, b in zip(rows, runs["boto3_upload_file"])],
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
