"""Preview benchmark: the previews worker (one process, a few threads) makes previews.

    .venv/bin/python -m bench.previews [--photos 60] [--threads 2] [--video-runs 3] [--broker redis://127.0.0.1:6379/7]

Set-up: a temp DATA_DIR with SQLite on disk and local storage, migrated; a bench
user; sample media made in code (previews/testing.py) and cached under
bench/.cache/ (a 12-megapixel JPEG per seed; a 1080p, 10-minute H.264 video,
generated once with a fast, low-bitrate encode). The photos are uploaded with
automatic previews off; previews go to a queue of their own (PREVIEW_QUEUE=previews)
consumed by the previews worker as deploy/previews.sh runs it: `celery worker -Q previews
--pool=threads --concurrency=N`, one process, on the broker database given (Redis db 7
by default, whose Celery keys are deleted before and after).

Figures:
- photos, twice: with one thread (the single-thread figure), then with `--threads`
  (the process figure, the headline). Each time, after two untimed warm-up photos,
  previews of N distinct photos are asked for in one request (N tasks queued at
  once); the time is from queuing to the last preview row marked ready by the
  worker. Each task makes both sizes (thumbnail 256 px and medium 1024 px). Target:
  ≥ 10 photos a second on one worker process.
- video: the poster of the 10-minute video, asked for again (`force`) each run;
  the figure is the worker's own time for the task (`took_ms`: open, seek, decode,
  encode, write) and the time from queuing to ready. Target: < 2 s.

Writes bench/results_previews.json and prints a summary.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results_previews.json"
PHOTO_SEEDS = 4
QUEUE = "previews"
VIDEO = {"width": 1920, "height": 1080, "seconds": 600, "fps": 24, "gop": 48, "bit_rate": 1_000_000,
         "black_seconds": 3}


def _environment(data_dir: Path, broker: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "STORAGE_BACKEND", "REDIS_URL", "AWS_S3_ENDPOINT_URL")}
    env.update(DATA_DIR=str(data_dir), DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
               CELERY_BROKER_URL=broker, STORAGE_BACKEND="local", DEBUG="true", LOG_LEVEL="WARNING",
               PREVIEW_QUEUE=QUEUE)
    return env


def _broker_clean(broker: str) -> None:
    import redis

    client = redis.Redis.from_url(broker)
    try:
        keys = client.keys("celery*") + client.keys(f"{QUEUE}*") + client.keys("_kombu.*") + client.keys("unacked*")
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# --- sample media (cached) ------------------------------------------------------------

def photo(seed: int) -> Path:
    """A 12-megapixel (4000×3000) photo-like JPEG: gradients, shapes and sensor-like
    noise, quality 90 (about the size a phone writes)."""
    path = CACHE / f"photo_12mp_{seed}.jpg"
    if not path.exists():
        import io

        from PIL import Image

        from previews.testing import photo_jpeg

        base = Image.open(io.BytesIO(photo_jpeg(width=4000, height=3000, seed=seed, quality=95)))
        noise = Image.effect_noise((4000, 3000), 24).convert("RGB")
        exif = Image.Exif()
        exif[0x0112] = 1
        exif[0x010F] = "StratusCam"
        CACHE.mkdir(parents=True, exist_ok=True)
        Image.blend(base.convert("RGB"), noise, 0.25).save(path, "JPEG", quality=90, exif=exif)
    return path


def video() -> Path:
    path = CACHE / "video_1080p_600s.mp4"
    if not path.exists():
        from previews.testing import video as make_video

        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.mp4")
        started = time.monotonic()
        print(f"making the 1080p 10-minute video once (cached in {path}) ...", flush=True)
        make_video(seconds=VIDEO["seconds"], fps=VIDEO["fps"], width=VIDEO["width"], height=VIDEO["height"],
                   black_seconds=VIDEO["black_seconds"], gop=VIDEO["gop"], bit_rate=VIDEO["bit_rate"],
                   path=str(partial), frame_variants=VIDEO["fps"])
        partial.rename(path)
        print(f"  done in {time.monotonic() - started:.0f} s, {path.stat().st_size / 2**20:.0f} MiB", flush=True)
    return path


# --- the worker -----------------------------------------------------------------------

def worker_start(env: dict, log: Path, threads: int) -> subprocess.Popen:
    """The previews worker with the flags of deploy/previews.sh."""
    handle = open(log, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "storage_site", "worker", "-Q", QUEUE, "--pool=threads",
         f"--concurrency={threads}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--hostname", f"bench-previews-{os.getpid()}-{threads}@%h"],
        cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while b"ready." not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            worker_stop(process)
            raise RuntimeError("the Celery worker did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)
    return process


def worker_stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # warm shutdown
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
        process.wait(timeout=10)


# --- measuring ------------------------------------------------------------------------

def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants (the pool child)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _wait_ready(blob_ids: list[int], timeout: float) -> None:
    from previews.models import Preview, PreviewStatus

    deadline = time.monotonic() + timeout
    while True:
        done = Preview.objects.filter(blob_id__in=blob_ids, preview_type="thumbnail").exclude(
            status__in=[PreviewStatus.PENDING, PreviewStatus.PROCESSING]).count()
        if done == len(blob_ids):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {len(blob_ids)} previews were made in {timeout:.0f} s")
        time.sleep(0.1)


def _upload(user, folder, path: Path, name: str, trailer: bytes = b"") -> int:
    """Upload a file from disk (streamed); returns its blob id."""
    import io

    from files.models import FileVersion
    from files.uploads import file_upload

    class Stream(io.RawIOBase):  # the file, then a few bytes that make its content unique
        def __init__(self):
            self.fh, self.tail = open(path, "rb"), io.BytesIO(trailer)

        def readable(self):
            return True

        def read(self, n=-1):
            return self.fh.read(n) or self.tail.read(n)

    stream = Stream()
    try:
        node = file_upload(user=user, folder=folder, name=name, stream=stream,
                           size=path.stat().st_size + len(trailer), content_type=None)
    finally:
        stream.fh.close()
    return FileVersion.objects.get(node=node, number=node.version).blob_id


def photos_run(worker, blobs: list[int], warm: list[int], *, force: bool, source: Path) -> dict:
    """Warm up, then time the previews of `blobs` queued at once."""
    from django.utils import timezone

    from previews import services
    from previews.models import Preview, PreviewStatus

    services.previews_request(blobs=dict.fromkeys(warm, "image/jpeg"), force=force)
    _wait_ready(warm, 120)
    cpu_before, busy_before = _tree_cpu(worker.pid), _machine_busy()
    queued_at = timezone.now()
    started = time.perf_counter()
    services.previews_request(blobs=dict.fromkeys(blobs, "image/jpeg"), force=force)
    _wait_ready(blobs, 600)
    polled = time.perf_counter() - started
    worker_cpu = _tree_cpu(worker.pid) - cpu_before
    busy_after = _machine_busy()
    machine_busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    rows = list(Preview.objects.filter(blob_id__in=blobs, preview_type="thumbnail"))
    last = max(row.finished_at for row in rows)
    elapsed = (last - queued_at).total_seconds()
    took = [row.took_ms for row in rows if row.took_ms is not None]
    statuses = sorted({row.status for row in rows})
    sample = rows[0]
    medium = Preview.objects.get(blob_id=sample.blob_id, preview_type="medium")
    return {
        "count": len(rows), "statuses": statuses,
        "source": {"pixels": "4000x3000", "mebibytes": round(source.stat().st_size / 2**20, 2)},
        "seconds_queue_to_last_ready": round(elapsed, 3),
        "seconds_polled": round(polled, 3),
        "photos_per_second": round(len(rows) / elapsed, 2),
        "worker_cpu_seconds": round(worker_cpu, 3),
        "photos_per_worker_cpu_second": round(len(rows) / worker_cpu, 2) if worker_cpu else None,
        "worker_share_of_one_cpu": round(worker_cpu / elapsed, 2),
        "machine_busy_fraction": round(machine_busy, 2),
        "task_took_ms": {"median": statistics.median(took), "p90": sorted(took)[int(len(took) * 0.9) - 1],
                         "max": max(took)},
        "outputs": {"thumbnail": [sample.width, sample.height, sample.bytes],
                    "medium": [medium.width, medium.height, medium.bytes], "format": sample.content_type},
        "target_photos_per_second": 10,
        "meets_target": len(rows) / elapsed >= 10 and statuses == [PreviewStatus.READY],
    }


def measure(args, env: dict, data_dir: Path) -> dict:
    os.environ.update(env)
    os.environ["PREVIEW_AUTO_GENERATE"] = "false"  # uploads only store; previews are asked for when timed
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storage_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import User
    from folders.services import home_get
    from previews import services
    from previews.models import Preview, PreviewStatus

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(username="bench", email="bench@example.com", password="bench-password-1",
                                    phone="+919999900000")
    User.objects.filter(pk=user.pk).update(storage_quota=2**40)
    user.refresh_from_db()
    home = home_get(user=user)

    photos = [photo(seed) for seed in range(PHOTO_SEEDS)]
    print(f"uploading {args.photos + 2} photos ...", flush=True)
    warm = [_upload(user, home, photos[i % PHOTO_SEEDS], f"warm{i}.jpg", b"warm%d" % i) for i in range(2)]
    blobs = [_upload(user, home, photos[i % PHOTO_SEEDS], f"photo{i}.jpg", b"bench%d" % i)
             for i in range(args.photos)]
    video_blob = _upload(user, home, video(), "video.mp4") if args.video_runs else None

    result = {}
    # The single-thread figure first; the same photos are then made again (`force`) by the
    # worker with all its threads.
    for threads in dict.fromkeys([1, args.threads]):
        print(f"photos: {args.photos} tasks, {threads} thread(s) ...", flush=True)
        worker = worker_start(env, data_dir / f"worker-{threads}.log", threads)
        try:
            figures = photos_run(worker, blobs, warm, force=bool(result), source=photos[0])
            result["photos_single_thread" if threads == 1 else "photos"] = figures
            if threads != args.threads:
                continue
            result.setdefault("photos", figures)  # --threads 1: the process figure is the single-thread one
            runs = []
            for run in range(args.video_runs):
                print(f"video poster, run {run + 1} ...", flush=True)
                started = time.perf_counter()
                services.previews_request(blobs={video_blob: "video/mp4"}, force=True)
                _wait_ready([video_blob], 300)
                wall = time.perf_counter() - started
                row = Preview.objects.get(blob_id=video_blob, preview_type="thumbnail")
                runs.append({"took_ms": row.took_ms, "queue_to_ready_s": round(wall, 3), "status": row.status,
                             "posterAt": row.metadata.get("posterAt"), "error": row.error or None})
            if runs:
                row = Preview.objects.get(blob_id=video_blob, preview_type="medium")
                median_took = statistics.median(r["took_ms"] for r in runs) / 1000
                result["video"] = {
                    "source": {**VIDEO, "mebibytes": round(video().stat().st_size / 2**20, 1)},
                    "media": row.metadata, "poster": [row.width, row.height, row.bytes],
                    "runs": runs,
                    "task_seconds_median": round(median_took, 3),
                    "queue_to_ready_seconds_median": statistics.median(r["queue_to_ready_s"] for r in runs),
                    "target_seconds": 2,
                    "meets_target": median_took < 2 and all(r["status"] == PreviewStatus.READY for r in runs),
                }
        finally:
            worker_stop(worker)
    result["worker"] = (f"celery -A storage_site worker -Q {QUEUE} --pool=threads --concurrency={args.threads}: "
                        f"one process, {args.threads} thread(s) (deploy/previews.sh)")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2, help="threads of the previews worker (its default)")
    parser.add_argument("--video-runs", type=int, default=3, help="0 skips the video")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/7", help="a Redis database nothing else uses")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="stratus-bench-previews-"))
    env = _environment(data_dir, args.broker)
    _broker_clean(args.broker)
    started = time.monotonic()
    try:
        figures = measure(args, env, data_dir)
    finally:
        _broker_clean(args.broker)
        shutil.rmtree(data_dir, ignore_errors=True)
    import av
    import PIL

    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "pillow": PIL.__version__, "av": av.__version__, "load_average": os.getloadavg()},
        "settings": {"storage": "local", "database": "sqlite", "broker": args.broker, "queue": QUEUE,
                     "threads": args.threads, "format": os.environ.get("PREVIEW_FORMAT", "webp")},
        "seconds": round(time.monotonic() - started, 1),
        **figures,
    }
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    for label, photos in (("one thread", figures["photos_single_thread"]),
                          (f"{args.threads} threads", figures["photos"])):
        print(f"photos (12 MP JPEG, {photos['source']['mebibytes']} MiB), {label}: {photos['photos_per_second']}/s "
              f"(target ≥ 10: {'met' if photos['meets_target'] else 'MISSED'}); "
              f"task median {photos['task_took_ms']['median']} ms; {photos['photos_per_worker_cpu_second']} per "
              f"CPU-second of the worker (it had {photos['worker_share_of_one_cpu']} of a CPU; the machine was "
              f"{photos['machine_busy_fraction']:.0%} busy)")
        if args.threads == 1:
            break
    clip = figures.get("video")
    if clip:
        verdict = "met" if clip["meets_target"] else "MISSED"
        print(f"video poster (1080p, 10 min): task {clip['task_seconds_median']} s, queue→ready "
              f"{clip['queue_to_ready_seconds_median']} s (target < 2 s: {verdict})")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
