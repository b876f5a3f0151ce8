#!/usr/bin/env bash
# One-node SeaweedFS with its S3 gateway; data under $STACK_DIR/seaweedfs.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/weed server -dir="$STACK_DIR/seaweedfs" -s3 -s3.port="${S3_PORT:-8333}" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.volumeSizeLimitMB=1024 -volume.max=0 \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false ${WEED_ARGS:-}
