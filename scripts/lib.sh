# Shared shell functions of run_demo.sh and test.sh (sourced, not run).
# They install what a plain Debian 12 lacks, using apt as root or through sudo.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

# Each line says how long the script has been running: where a CI run's minutes go.
log() { printf '\033[1m== [%ss] %s\033[0m\n' "$SECONDS" "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@";
  elif command -v sudo >/dev/null 2>&1; then sudo "$@";
  else log "need root for: $*  (run as root or install sudo)"; return 1; fi
}

APT_UPDATED=""
apt_install() {
  # Install only the Debian packages that are missing.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  # $1: requirements file. A venv keeps PEP 668 happy; uv makes the install fast.
  local reqs="$1"
  if [ ! -x "$PY" ]; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
      apt_install python3-venv
    fi
    log "creating $VENV"
    # Without pip of its own: installing pip into the venv compiles its ~700 files (4 s of CPU on a
    # clean clone, before any test can start) only to install uv, which does all the rest.
    python3 -m venv --without-pip "$VENV"
  fi
  [ -x "$VENV/bin/uv" ] || install_uv
  log "installing $(basename "$reqs")"
  "$VENV/bin/uv" pip install -q --python "$PY" -r "$reqs"
}

install_uv() {
  # uv into the venv by the pip wheel Python keeps for ensurepip, run straight from the wheel (pip's
  # own bootstrap does the same); a venv made with pip, or a Python whose ensurepip differs, uses pip.
  local wheel=""
  if [ ! -x "$VENV/bin/pip" ]; then
    wheel="$("$PY" -c 'import ensurepip, os
p = ensurepip._get_packages()["pip"]
print(p.wheel_path or os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", p.wheel_name))' 2>/dev/null)" \
      || wheel=""
  fi
  if [ -n "$wheel" ] && [ -f "$wheel" ]; then
    "$PY" "$wheel/pip" install -q --no-compile --disable-pip-version-check uv
  else
    [ -x "$VENV/bin/pip" ] || "$PY" -m ensurepip --default-pip >/dev/null
    "$VENV/bin/pip" install -q --disable-pip-version-check uv
  fi
}

ensure_cjk_font() {
  # Watermarks and posters print Chinese: without a CJK font it comes out as boxes.
  if ! fc-list ':lang=zh' 2>/dev/null | grep -q . ; then apt_install fonts-noto-cjk fontconfig; fi
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
