"""Constants, settings of a run and small helpers every phase uses."""

import math
import os
import socket
import statistics
import sys
import time
from pathlib import Path

from boto3.s3.transfer import TransferConfig


ROOT = Path(__file__).resolve().parents[2]  # the checkout
BENCH = ROOT / "bench"
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
        "search_rows": 1_000_000, "search_requests": 100, "load_clients": 50, "load_seconds": 60, "budget": 2400,
        "dav_file_mib": 1024, "dav_small_files": 1000, "propfind_entries": 10_000, "propfind_requests": 30}
QUICK = {"file_mib": 64, "repeats": 3, "listing_files": 2_000, "listing_requests": 100, "search_rows": 50_000,
         "search_requests": 50, "load_clients": 20, "load_seconds": 15, "budget": 420,
         "dav_file_mib": 64, "dav_small_files": 100, "propfind_entries": 10_000, "propfind_requests": 10}
TARGETS = {
    "upload_ratio": 0.8,          # API upload MiB/s ÷ boto3 put MiB/s
    "download_ratio": 0.8,        # API download MiB/s ÷ boto3 get MiB/s
    "worker_rss_mib": 150,        # peak RSS of the worker handling the transfer
    "chunked_time_ratio": 1.35,   # StreamVault chunked upload seconds ÷ boto3 upload_file seconds
    "direct_time_ratio": 1.05,    # MegaVault presigned direct parts (first sent → last stored) ÷ the same baseline
    "direct_complete_s_per_gib": 1.0,  # its `complete` → file visible (the verification read), per GiB
    "celery_rss_mib": 150,        # peak RSS of the Celery pool process assembling an upload
    "listing_p95_ms": 50,
    "search_p95_ms": 100,
    "load_errors": 0,             # failed requests of the mixed load run
    "peer_ratio": 0.8,            # Stratus on local storage ÷ copyparty, upload and download MiB/s
    "sync_p95_ms": 100,           # a 500-change MegaVault sync page, 100,000 journal rows, PostgreSQL
    "preview_photos_per_s": 10,   # 12-megapixel JPEG previews on one worker process
    "poster_s": 2,                # poster of a 1080p, 10-minute video, queued → ready
    "web_page_weight_kb": 200,    # JavaScript + CSS a first visit to the web drive loads, as sent (gzip)
    "web_render_p95_ms": 300,     # the web drive's first page of a 10,000-file folder, PostgreSQL
    "nextcloud_ratio": 0.9,       # nextcloudcmd MiB/s ÷ rclone over /dav/ MiB/s, same files, up and down
    "nextcloud_resync_s": 3,      # a nextcloudcmd run over an unchanged 10,000-file tree
    "nextcloud_rss_mib": 150,     # peak RSS of a gunicorn worker while nextcloudcmd syncs
    "dav_ratio": 1.0,             # rclone through /dav/ ÷ through copyparty's WebDAV, local storage
    "propfind_p95_ms": 1000,      # PROPFIND Depth 1 of a 10,000-entry folder, PostgreSQL
}


class BenchTimeout(Exception):
    pass


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ratio_text(ratio: float) -> str:
    """A ratio for the report, with three significant digits: two decimals would show
    0.997× as a 1.00× that fails a ≥ 1.0× target."""
    return f"{ratio:#.3g}×"


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
