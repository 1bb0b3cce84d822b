#!/usr/bin/env bash
# Install and run the service on the embedded defaults (SQLite + local storage) with demo data.
# Usage: bash scripts/run_demo.sh   (PORT=8000 by default; stop with Ctrl-C)
# Without a WeChat account of your own, the fake WeChat server (server/devtools) runs beside it, so
# `.venv/bin/python scripts/try_visit.py` can walk the inspector's and the villager's flows.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_venv requirements.txt
ensure_cjk_font
export PORT="${PORT:-8000}"
# The demo is for phones on the same network too; production keeps gunicorn on loopback.
export BIND_ADDRESS="${BIND_ADDRESS:-0.0.0.0}"
export APP_ENV="${APP_ENV:-development}"
FAKE_PID=""
trap '[ -z "$FAKE_PID" ] || kill "$FAKE_PID" 2>/dev/null || true' EXIT
if [ -z "${WECHAT_APPID:-}" ]; then
  FAKE_WECHAT_PORT="${FAKE_WECHAT_PORT:-8901}"
  "$PY" -m server.devtools.fake_wechat --port "$FAKE_WECHAT_PORT" >/dev/null 2>&1 &
  FAKE_PID=$!
  for _ in $(seq 1 100); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $FAKE_WECHAT_PORT), 1)" >/dev/null 2>&1 && break
    kill -0 "$FAKE_PID" 2>/dev/null || { log "the fake WeChat server did not start (port $FAKE_WECHAT_PORT busy?)"; exit 1; }
    sleep 0.1
  done
  # The appid and secret the fake accepts (server/devtools/fake_wechat.py FakeWeChat).
  export WECHAT_API_BASE="http://127.0.0.1:$FAKE_WECHAT_PORT" WECHAT_APPID=wx-test-appid WECHAT_SECRET=test-secret
  log "fake WeChat server on $WECHAT_API_BASE (try the flows: .venv/bin/python scripts/try_visit.py)"
fi
"$VENV/bin/flask" --app server init-db
"$VENV/bin/flask" --app server demo-data
log "serving on http://0.0.0.0:$PORT  (API: /api/v1/openapi.json, health: /healthz)"
"$VENV/bin/gunicorn" -c deploy/gunicorn.conf.py 'server:create_app()'
