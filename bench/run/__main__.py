"""Stratus benchmark against a real server: gunicorn + PostgreSQL + SeaweedFS.

    .venv/bin/python -m bench.run            # full: 1 GiB file, 10,000-file folder, 1,000,000 search rows
    .venv/bin/python -m bench.run --quick    # smoke test: 64 MiB, 2,000 files, 50,000 rows (< 3 min)

Starts everything itself (SeaweedFS on free ports, a fresh `stratus_bench` database,
gunicorn on a free port, a Celery worker on Redis database 5), measures, writes bench/results.json and bench/results.md,
prints the Markdown table, and always stops what it started and drops the database.
See bench/README.md for what every figure means.
"""

import argparse
import json
import signal
import sys
import time
import traceback
from pathlib import Path

from .common import BENCH, BROKER_URL, BenchTimeout, FULL, QUICK, TARGETS, log
from .stack import Stack
from .machine import Load, wait_idle
from .transfer import transfer
from .chunked import chunked_uploads
from .listing import listing, listing_again
from .search import search
from .peer import peer
from .webdav import webdav
from .nextcloud import nextcloud
from .standalone import load_run, previews, sync_pages
from .report import environment, figures, markdown
from .web import web


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
                                 "load_run", "web", "nextcloud", "webdav"],
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
                  ("web", lambda st, c, d: web(st, c, d, results.get("listing"))),
                  ("search", search), ("peer", peer), ("sync_pages", sync_pages), ("previews", previews),
                  ("webdav", webdav),
                  ("load_run", load_run),
                  ("nextcloud", nextcloud),
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
