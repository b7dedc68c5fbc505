#!/usr/bin/env bash
# The Debian packages the test suite drives for real: nginx (reverse-proxy tests), chromium
# (the consent page in a real browser) and postgresql (the shared OAuth store; the tests start
# throwaway clusters of their own, the system's service is never used). Shared by `npm test` and `.ci/run`: it installs what is
# missing when it can (root, or sudo without a password) and prints what it installs; when it
# cannot, it prints one line saying what to install and exits 1.
set -uo pipefail

# NGINX_BIN is the tests' own override of the nginx binary; MXCP_CHROMIUM_BIN only exists so that
# this script's own test can pretend chromium is missing.
missing=()
if [ -n "${NGINX_BIN:-}" ]; then [ -x "$NGINX_BIN" ] || missing+=(nginx)
else command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx); fi
[ -x "${MXCP_CHROMIUM_BIN:-/usr/bin/chromium}" ] || missing+=(chromium)
if [ -n "${PG_BIN:-}" ]; then [ -x "$PG_BIN/pg_ctl" ] || missing+=(postgresql)
else compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql); fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "The tests need the Debian packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "The tests need: ${missing[*]} (no apt-get here: install them with your package manager)" >&2
  exit 1
}

echo "== installing Debian packages the tests need: ${missing[*]}"
log=$(mktemp -t mxcp-apt.XXXXXX)
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  if ! { $SUDO apt-get update >>"$log" 2>&1 && $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }; then
    tail -20 "$log" >&2
    echo "apt-get install ${missing[*]} failed (log: $log). Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
rm -f "$log"
echo "== installed ${missing[*]}"
