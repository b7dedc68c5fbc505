#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance) against this server.
# The suite needs Node 22, which installs from npm as the `node` package: both go into the
# gitignored folder .tools/conformance (once), and only this script puts that Node first on PATH.
#
#   bash scripts/conformance.sh                       # both requirement sets, example project, auth off
#   bash scripts/conformance.sh 2026-07-28            # one requirement set
#   MCP_URL=http://127.0.0.1:8000/mcp bash scripts/conformance.sh   # a server you started yourself
#
# Results (one folder per requirement set) land in test-results/conformance/.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools/conformance"
suite_version="${CONFORMANCE_VERSION:-0.2.0-alpha.12}"
if [ ! -x "$tools/node_modules/.bin/conformance" ] || [ ! -x "$tools/node_modules/.bin/node" ]; then
  echo "== installing node@22 and @modelcontextprotocol/conformance@$suite_version into .tools/conformance"
  mkdir -p "$tools"
  (cd "$tools" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --no-audit --no-fund "node@22" "@modelcontextprotocol/conformance@$suite_version" >/dev/null) ||
    { echo "npm install of the conformance suite failed"; exit 1; }
fi

requirements=("$@")
[ ${#requirements[@]} -eq 0 ] && requirements=(2025-11-25 2026-07-28)

server_pid=""
url="${MCP_URL:-}"
if [ -z "$url" ]; then
  [ -f dist/main.js ] || npm run build >/dev/null || exit 1
  port="${CONFORMANCE_PORT:-18765}"
  home=$(mktemp -d)
  (cd examples/quickstart && HOME="$home" exec node "$root/dist/main.js" serve --port "$port") \
    >"$root/test-results/conformance-server.log" 2>&1 &
  server_pid=$!
  trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null' EXIT
  for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.2
  done
  url="http://127.0.0.1:$port/mcp"
fi
mkdir -p test-results/conformance

status=0
for req in "${requirements[@]}"; do
  echo "== conformance server --requirements $req against $url"
  PATH="$tools/node_modules/.bin:$PATH" conformance server --url "$url" --requirements "$req" \
    -o "test-results/conformance/$req" | tee "test-results/conformance/$req.txt" | grep -E "^(Total|✗)" || true
  grep -q "failed" "test-results/conformance/$req.txt" && grep -qE "^Total: [0-9]+ passed, [1-9]" "test-results/conformance/$req.txt" && status=1
done
exit $status
