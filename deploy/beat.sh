#!/usr/bin/env bash
# Exactly one beat per stack: it sends every app's periodic tasks (settings CELERY_BEAT_SCHEDULE).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/celery -A storage_site beat --loglevel=INFO --schedule="$STACK_DIR/celerybeat-schedule"
