#!/usr/bin/env bash
# Measures one forwarded connection's bulk throughput: 1 GiB from a local client through
# `wicket forward` (CLI -> wicketd -> agent, all TLS WebSockets on loopback) to a sink on the
# target side, which counts the bytes. Release binaries, a throw-away `wicketd dev`.
#   bench/forward-throughput.sh [MIB]      (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
[ -n "${WICKET_BIN:-}" ] || cargo build --release --quiet
bin=${WICKET_BIN:-target/release}
tmp=$(mktemp -d)
trap 'kill $dev $fwd $sink 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); sink_port=$(free_port); local_port=$(free_port)
XDG_CONFIG_HOME=$tmp/cfg $bin/wicketd dev --data-dir "$tmp/data" --listen "127.0.0.1:$port" >"$tmp/dev.out" 2>&1 &
dev=$!
for _ in $(seq 1 100); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
name=$(grep -oE 'connect [^ ]+' "$tmp/dev.out" | head -n1 | cut -d' ' -f2)
# The sink: reads everything, then reports how much.
python3 - "$sink_port" "$tmp/sink.ready" >"$tmp/sink.out" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[2], "w").close()
c, _ = s.accept(); n = 0
buf = bytearray(1 << 20)
while True:
    k = c.recv_into(buf)
    if not k: break
    n += k
print(n, flush=True)
PY
sink=$!
# A connection before the sink listens would be refused (and reset, as it should be).
for _ in $(seq 1 100); do [ -e "$tmp/sink.ready" ] && break; sleep 0.05; done
[ -e "$tmp/sink.ready" ] || { echo "the sink did not start listening" >&2; exit 1; }
XDG_CONFIG_HOME=$tmp/cfg $bin/wicket forward "$name" "$local_port:127.0.0.1:$sink_port" >"$tmp/fwd.out" 2>&1 &
fwd=$!
for _ in $(seq 1 100); do grep -q "Forwarding" "$tmp/fwd.out" 2>/dev/null && break; sleep 0.1; done
start=$(date +%s.%N)
head -c "$((mib * 1024 * 1024))" /dev/zero | socat -u - "TCP:127.0.0.1:$local_port"
wait $sink
end=$(date +%s.%N)
bytes=$(cat "$tmp/sink.out")
python3 -c "import sys; b=$bytes; t=$end-$start; print(f'{b} bytes in {t:.2f} s: {b/t/1e6:.0f} MB/s')"
