#!/usr/bin/env bash
# The previews worker: one process with PREVIEW_WORKER_THREADS threads (2) on the
# previews queue (PREVIEW_QUEUE, set by stack.sh). Pillow, PyAV and PDFium let go of
# Python's lock while they decode, resize and encode, so the threads of one process use
# several cores; PDFium, which is not thread-safe, renders one page at a time. Celery
# enforces no time limits in a threads pool: the preview task does (previews/tasks.py).
# Every other task stays on the prefork worker (worker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PREVIEW_QUEUE:?set PREVIEW_QUEUE (e.g. previews): this worker takes only that queue}"
.venv/bin/python deploy/s3_bucket.py
exec .venv/bin/celery -A storage_site worker --loglevel=INFO -Q "$PREVIEW_QUEUE" --pool=threads \
    --concurrency="${PREVIEW_WORKER_THREADS:-2}" --hostname="${HONCHO_PROCESS_NAME:-previews.1}@%h" --without-gossip
