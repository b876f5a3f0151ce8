#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python deploy/s3_bucket.py
# The admin's static files, into this node's own DATA_DIR (WhiteNoise serves them): every web node
# collects its own, so none depends on another's disk.
.venv/bin/python manage.py collectstatic --noinput --verbosity 0
exec .venv/bin/gunicorn storage_site.wsgi:application -c deploy/gunicorn.conf.py
