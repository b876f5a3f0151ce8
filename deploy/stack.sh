#!/usr/bin/env bash
# `make stack`: the production-shaped stack on one machine, run by honcho from the
# Procfile: gunicorn, a Celery worker, the previews worker, Celery beat and SeaweedFS (S3), on the
# PostgreSQL and Redis named by DATABASE_URL and REDIS_URL. Ctrl-C stops it.
# Any process name(s) given as arguments start only those (e.g. `web worker previews beat`
# with an outside S3); STACK_CONCURRENCY=web=2,worker=3 runs more of each.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DATABASE_URL:?set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/stratus}"
: "${REDIS_URL:?set REDIS_URL, e.g. redis://127.0.0.1:6379/0}"
export DATABASE_URL REDIS_URL
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-$REDIS_URL}"
# Previews have a queue and a worker of their own (deploy/previews.sh: one process, threads).
export PREVIEW_QUEUE="${PREVIEW_QUEUE:-previews}"

export STACK_DIR="${STACK_DIR:-$PWD/var/stack}"
export DATA_DIR="${DATA_DIR:-$STACK_DIR/data}"
mkdir -p "$STACK_DIR/seaweedfs" "$DATA_DIR"

export DEBUG="${DEBUG:-false}"
if [ -z "${SECRET_KEY:-}" ]; then
    # Generated once per stack directory; set SECRET_KEY in production.
    [ -f "$STACK_DIR/secret_key" ] || (umask 077 && .venv/bin/python -c \
        'import secrets; print(secrets.token_urlsafe(50))' > "$STACK_DIR/secret_key")
    SECRET_KEY="$(cat "$STACK_DIR/secret_key")"
fi
export SECRET_KEY
# Plain HTTP on this machine; behind TLS set both to true.
export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-false}" CSRF_COOKIE_SECURE="${CSRF_COOKIE_SECURE:-false}"

export STORAGE_BACKEND=s3
export S3_PORT="${S3_PORT:-8333}"
export AWS_S3_ENDPOINT_URL="${AWS_S3_ENDPOINT_URL:-http://127.0.0.1:$S3_PORT}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-stratus}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-stratus-secret}"
export AWS_STORAGE_BUCKET_NAME="${AWS_STORAGE_BUCKET_NAME:-stratus}"
export HOST="${HOST:-127.0.0.1}" WEB_PORT="${WEB_PORT:-8000}"

PY=.venv/bin/python
$PY manage.py migrate --noinput
$PY manage.py collectstatic --noinput --verbosity 0
$PY manage.py ensure_admin
echo "stack: http://$HOST:$WEB_PORT/ (admin at /admin/, probes /healthz and /readyz); S3 $AWS_S3_ENDPOINT_URL"
exec .venv/bin/honcho start --no-colour -f Procfile ${STACK_CONCURRENCY:+-c "$STACK_CONCURRENCY"} "$@"
