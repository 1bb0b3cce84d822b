#!/usr/bin/env bash
# Install and run the service on the embedded defaults (SQLite + local storage) with demo data.
# Usage: bash scripts/run_demo.sh   (PORT=8000 by default; stop with Ctrl-C)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv requirements.txt
ensure_cjk_font
export PORT="${PORT:-8000}"
# The demo is for phones on the same network too; production keeps gunicorn on loopback.
export BIND_ADDRESS="${BIND_ADDRESS:-0.0.0.0}"
"$VENV/bin/flask" --app server init-db
"$VENV/bin/flask" --app server demo-data
log "serving on http://0.0.0.0:$PORT  (API: /api/v1/openapi.json, health: /healthz)"
exec "$VENV/bin/gunicorn" -c deploy/gunicorn.conf.py 'server:create_app()'
