#!/usr/bin/env bash
# Install the test dependencies, start real MariaDB and a real S3 server on 127.0.0.1, run every test.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1  # the console's browser tests use Debian's Chromium
# Each pytest worker imports the whole server and rewrites every test module's asserts: without
# cached bytecode each one compiles them all again (collecting the suite: 24 s of CPU, 10.5 s with it).
unset PYTHONDONTWRITEBYTECODE
ensure_cjk_font
# fonts-dejavu-core: a Latin-only font, to test that a non-CJK font is never used for Chinese.
# docker-compose and systemd (systemd-analyze) validate the files in deploy/; no engine runs.
# chromium-headless-shell: the console's browser tests (tests/browser/conftest.py says why not `chromium`).
apt_install mariadb-server mariadb-client chromium-headless-shell fonts-dejavu-core docker-compose systemd
# tests/test_cluster.py runs the production topology (scripts/cluster.py): nginx, Redis and a
# 3-node Galera cluster (rsync state transfer, socat), with a self-signed certificate from openssl.
apt_install nginx redis-server galera-4 rsync socat openssl
# The mini-program's tests run on Node (jest + miniprogram-simulate); Debian 12 ships Node 18.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi

# Scratch space for the run: the test databases, MariaDB's files, the Galera cluster, pytest's
# temporary directories (~2 GB written and deleted) and Chromium's profiles. In memory (/dev/shm)
# when it has room: nothing of it must outlive the run, and on a disk each of the ~30,000 files
# costs a journal entry and a discard when deleted. TMPDIR sends Python's, Node's and Chromium's
# temporary files there too.
SCRATCH=/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt $((8 * 1024 * 1024)) ] \
  && [ "$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)" -gt $((12 * 1024 * 1024)) ]; then
  SCRATCH=/dev/shm
fi
# A run that was killed (no EXIT trap) leaves its folder, which in /dev/shm holds memory: remove
# those whose run is gone.
for old in "$SCRATCH"/sp-test.*/; do
  [ -f "$old/run.pid" ] && ! kill -0 "$(cat "$old/run.pid")" 2>/dev/null && rm -rf "$old"
done
WORK="$(mktemp -d "$SCRATCH/sp-test.XXXXXX")"
echo $$ >"$WORK/run.pid"
# Like /tmp: the Galera nodes run as the mysql user and nginx's workers as nobody, and they must
# reach their folders under it.
chmod 755 "$WORK"
mkdir -m 1777 "$WORK/tmp"
export TMPDIR="$WORK/tmp"
PIDS=()
JS_PID=""
cleanup() {
  # jest's job runs in a process group of its own: an early exit stops npm, jest and the servers it
  # started too, not only the job's shell.
  [ -z "$JS_PID" ] || kill -- -"$JS_PID" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
  log "servers stopped, scratch space removed"
}
trap cleanup EXIT

if [ $# -eq 0 ]; then
  # The mini-program's tests and the linters run beside the server tests rather than before them:
  # pytest leaves CPU idle while it waits on MariaDB, S3 and Chromium, and jest fills it. No server
  # test needs Node, so pytest starts as soon as its servers are up, while npm may still install
  # (on a clean clone npm takes ~25 s; the venv and the servers ~12 s). Their output is kept apart
  # and printed whole once pytest is done.
  log "installing the mini-program's test packages, then jest and the linters, beside the server tests"
  set -m # the job gets a process group of its own (cleanup stops all of it)
  (
    # `npm install`, not `npm ci`: Debian's npm 9 rejects our lock file over platform-only optional
    # packages it never installs (e.g. @unrs/resolver-binding-android-arm-eabi) although it is in sync.
    # --prefer-offline: the lock file pins every version, so a package already in npm's cache is taken
    # from it without asking the registry again (fetched as usual when it is not): ~3 s and 3 s of CPU.
    ( cd miniprogram && npm install --no-audit --no-fund --prefer-offline --loglevel=error ) \
      || { echo "npm install FAILED"; exit 1; }
    # The end-to-end tests start the real Flask server with our venv's Python, made meanwhile below.
    while [ ! -e "$WORK/venv.ready" ]; do
      kill -0 $$ 2>/dev/null || exit 1
      sleep 0.5
    done
    status=0
    # jest's cache (its file map, the slowest-first order) stays in /tmp, not in the run's TMPDIR.
    ( cd miniprogram && E2E_PYTHON="$PY" npx jest --ci --cacheDirectory "/tmp/jest_$(id -u)" ) || status=1
    # eslint (the JS and the WXML templates) and prettier; ruff's lint and format on the Python.
    ( cd miniprogram && npm run --silent lint && npm run --silent format:check ) || status=1
    { "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check .; } || status=1
    exit $status
  ) >"$WORK/js.log" 2>&1 &
  JS_PID=$!
  set +m
fi
ensure_venv requirements-dev.txt
touch "$WORK/venv.ready"

# --- S3: moto's standalone server, a real HTTP S3 API on loopback ------------------------
# Started first: it takes ~2 s to import and answer, while MariaDB's files are made and it starts.
S3_PORT="$(free_port)"
log "starting the S3 server on 127.0.0.1:$S3_PORT"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$WORK/s3.log" 2>&1 &
PIDS+=($!)

# --- MariaDB: a private server on a free port, no systemd needed ------------------------
MARIADB_PORT="$(free_port)"
SOCK="$WORK/mariadb.sock"
USER_OPT=()
[ "$(id -u)" = 0 ] && USER_OPT=(--user=root)
log "starting MariaDB on 127.0.0.1:$MARIADB_PORT"
mariadb-install-db --no-defaults "${USER_OPT[@]}" --datadir="$WORK/mariadb" \
  --auth-root-authentication-method=socket --skip-test-db >"$WORK/mariadb-install.log" 2>&1 \
  || { cat "$WORK/mariadb-install.log"; exit 1; }
mariadbd --no-defaults "${USER_OPT[@]}" --datadir="$WORK/mariadb" --socket="$SOCK" \
  --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-log-bin --character-set-server=utf8mb4 \
  --collation-server=utf8mb4_unicode_ci --innodb-flush-log-at-trx-commit=2 \
  --pid-file="$WORK/mariadb.pid" >"$WORK/mariadb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1 && break; sleep 0.1; done
mariadb-admin --socket="$SOCK" ping >/dev/null || { cat "$WORK/mariadb.log"; exit 1; }
mariadb --socket="$SOCK" -e "CREATE DATABASE sp_test CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
  CREATE USER 'sp'@'127.0.0.1' IDENTIFIED BY 'sp-test-pw';
  GRANT ALL ON \`sp\_test%\`.* TO 'sp'@'127.0.0.1';"  # one database per pytest process
# ssl_disabled: this server has no TLS, and PyMySQL would otherwise build a TLS context (0.1 s of
# CPU) for every connection the tests open.
export TEST_MYSQL_URL="mysql+pymysql://sp:sp-test-pw@127.0.0.1:$MARIADB_PORT/sp_test?charset=utf8mb4&ssl_disabled=true"

# The S3 server started above answers.
for _ in $(seq 1 100); do
  "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$S3_PORT/', timeout=1)" \
    >/dev/null 2>&1 && break
  sleep 0.1
done
export TEST_S3_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"

set +e
js_status=0
log "running the server tests (SQLite and MariaDB, local storage and S3)"
# One pytest process per core (pytest-xdist). The cores stay busy while a worker waits on MariaDB, S3
# or Chromium: jest, Chromium and the servers run beside it. A third worker on two cores gave nothing
# measurable (clean-clone runs of .ci/run in one hour: 270, 318 and 301 s with three, 294 and 303 s with
# two), costs a third collection, and starts the Galera cluster and both Chromiums at the same moment.
# PYTEST_WORKERS=0 runs in one process.
# loadgroup keeps the browser tests on two workers (a Chromium each) and each module with module-scoped
# servers on one worker: tests/support/scheduling.py names the groups.
"$PY" -m pytest -n "${PYTEST_WORKERS:-$(nproc)}" --dist loadgroup --basetemp "$WORK/pytest" "$@"
py_status=$?
log "server tests done"
if [ -n "$JS_PID" ]; then
  wait "$JS_PID"
  js_status=$?
  JS_PID="" # its group is gone: cleanup must not signal a later one of that number
  log "the mini-program tests (jest) and the linters"
  cat "$WORK/js.log"
fi
set -e
[ $js_status -eq 0 ] || log "mini-program tests or a lint/format check FAILED"
[ $py_status -eq 0 ] && [ $js_status -eq 0 ]
