#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python deploy/s3_bucket.py
# A distinct name per process, so `-c worker=3` gives three workers in `inspect ping`.
exec .venv/bin/celery -A storage_site worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" \
    --hostname="${HONCHO_PROCESS_NAME:-worker.1}@%h" --without-gossip
