#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python deploy/s3_bucket.py
exec .venv/bin/gunicorn storage_site.wsgi:application -c deploy/gunicorn.conf.py
