#!/usr/bin/env bash
# Verifying and exporting a long audit chain: time and the CLI's peak memory.
#   bench/audit-verify.sh [EVENTS]   (default 200000)
# Starts a throw-away `wicketd dev`, appends EVENTS events to its chain (the fill_audit example
# of wicket-store), then runs `wicket audit verify` and `wicket audit export` under
# /usr/bin/time. OLD_WICKET=PATH also runs another `wicket` binary's verify, for a comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
[ -n "${WICKET_BIN:-}" ] || cargo build --release --quiet
cargo build --release --quiet -p wicket-store --example fill_audit
bin=$(cd "${WICKET_BIN:-target/release}" && pwd)
tmp=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME=$tmp/cfg
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/wicketd" dev --data-dir "$tmp/data" --listen "127.0.0.1:$port" >"$tmp/dev.out" 2>&1 &
pid=$!
for _ in $(seq 1 150); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
grep -q "Press Ctrl-C" "$tmp/dev.out" || { cat "$tmp/dev.out" >&2; exit 1; }
target/release/examples/fill_audit "sqlite://$tmp/data/server/wicket.db" "$n" >/dev/null
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; exit 1; }
  read -r secs kib <"$tmp/time"
  printf '  %-34s %8s s %10s MiB peak\n' "$label" "$secs" "$(python3 -c "print(f'{$kib/1024:.1f}')")"
}
echo "audit chain of about $n events ($(nproc) cores):"
measure "wicket audit verify" "$bin/wicket" audit verify
[ -z "${OLD_WICKET:-}" ] || measure "wicket audit verify (OLD_WICKET)" "$OLD_WICKET" audit verify
measure "wicket audit export (1000/segment)" "$bin/wicket" audit export --out "$tmp/export"
measure "wicket audit verify --export" "$bin/wicket" audit verify --export "$tmp/export" \
  --public-key "$("$bin/wicketd" audit public-key --data-dir "$tmp/data/server")"
