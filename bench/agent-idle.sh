#!/usr/bin/env bash
# Measures the agent's footprint: resident memory idle, after a bulk session, and how often it
# wakes while idle. Uses release binaries and a throw-away `wicketd dev` on a free port.
#   bench/agent-idle.sh [SECONDS]      (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
[ -n "${WICKET_BIN:-}" ] || cargo build --release --quiet
bin=${WICKET_BIN:-target/release}
tmp=$(mktemp -d)
trap 'kill $dev 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
XDG_CONFIG_HOME=$tmp/cfg $bin/wicketd dev --data-dir "$tmp/data" --listen "127.0.0.1:$port" >"$tmp/dev.out" 2>&1 &
dev=$!
for _ in $(seq 1 100); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
agent=$(pgrep -f "wicket-agent --state-dir $tmp/data/agent")
name=$(grep -oE 'connect [^ ]+' "$tmp/dev.out" | head -n1 | cut -d' ' -f2)
field() { awk -v k="$1:" '$1==k {print $2}' "/proc/$agent/status"; }
sleep 2
echo "agent pid $agent, heartbeat 10 s (wicketd dev)"
echo "idle RSS:                 $(field VmRSS) KiB"
a=$(field voluntary_ctxt_switches)
sleep "$secs"
b=$(field voluntary_ctxt_switches)
echo "idle wake-ups in ${secs}s:    $((b - a))"
XDG_CONFIG_HOME=$tmp/cfg $bin/wicket connect "$name" -- "${SESSION_CMD:-head -c 100000000 /dev/zero}" | wc -c >/dev/null
sleep 1
echo "RSS after a 100 MB session: $(field VmRSS) KiB (peak $(field VmHWM) KiB)"
sleep 15
echo "RSS 15 s later:             $(field VmRSS) KiB, threads $(field Threads)"
