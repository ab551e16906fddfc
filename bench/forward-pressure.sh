#!/usr/bin/env bash
# Memory under forward pressure: many forwarded connections push data at a destination that
# accepts and never reads, so every window on the way fills and stays full. Prints the resident
# memory of wicketd and the agent while the windows are full, after the user's link is killed,
# and the agent's connections to the destination still open. Two rounds: RSS that grows again
# in the second round is a leak; RSS that stays where the first round left it is memory the
# allocator kept for reuse. Release binaries (or $WICKET_BIN), a throw-away `wicketd dev`.
#   bench/forward-pressure.sh [CONNECTIONS [MIB_EACH [ROUNDS]]]    (default 200 12 2)
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-200}
mib=${2:-12}
rounds=${3:-2}
[ -n "${WICKET_BIN:-}" ] || cargo build --release --quiet
bin=${WICKET_BIN:-target/release}
tmp=$(mktemp -d)
fwd="" push=""
trap 'kill $dev $sink $fwd $push 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); sink_port=$(free_port)
XDG_CONFIG_HOME=$tmp/cfg $bin/wicketd dev --data-dir "$tmp/data" --listen "127.0.0.1:$port" >"$tmp/dev.out" 2>&1 &
dev=$!
for _ in $(seq 1 150); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
agent=$(pgrep -f "wicket-agent --state-dir $tmp/data/agent")
name=$(grep -oE 'connect [^ ]+' "$tmp/dev.out" | head -n1 | cut -d' ' -f2)

# The destination: accepts every connection and never reads, holding them open.
python3 - "$sink_port" "$tmp/sink.ready" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
open(sys.argv[2], "w").close()
held = []
while True:
    c, _ = s.accept()
    held.append(c)
PY
sink=$!
for _ in $(seq 1 100); do [ -e "$tmp/sink.ready" ] && break; sleep 0.05; done

# The load: CONNECTIONS clients of `wicket forward`, each writing MIB_EACH MiB as fast as it
# is taken; reports what went in once nothing has moved for 3 s, then holds the sockets.
cat >"$tmp/push.py" <<'PY'
import selectors, socket, sys, time
port, n, mib, report = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sel = selectors.DefaultSelector()
left = {}
for _ in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    c.setblocking(False)
    left[c] = mib << 20
    sel.register(c, selectors.EVENT_WRITE)
chunk = bytes(64 * 1024)
pushed, last = 0, time.monotonic()
while left and time.monotonic() - last < 3:
    for key, _ in sel.select(timeout=0.5):
        c = key.fileobj
        try:
            k = c.send(chunk[: min(len(chunk), left[c])])
        except BlockingIOError:
            continue
        except OSError:
            k = 0
            left[c] = 0
        pushed += k
        left[c] -= k
        last = time.monotonic()
        if left[c] == 0:
            sel.unregister(c)
            del left[c]
with open(report, "w") as f:
    f.write(f"{pushed}\n")
time.sleep(3600)
PY

rss() { awk '$1=="VmRSS:" {printf "%d", $2/1024}' "/proc/$1/status"; }
hwm() { awk '$1=="VmHWM:" {printf "%d", $2/1024}' "/proc/$1/status"; }
# The agent's connections to the destination that are still established.
open_to_dest() { ss -tnH state established "( dport = :$sink_port )" | wc -l; }

echo "$conns connections x $mib MiB into a destination that never reads; binaries: $bin"
printf '%-34s %12s %12s %14s\n' "" "wicketd MB" "agent MB" "agent->dest"
printf '%-34s %12s %12s %14s\n' "idle" "$(rss $dev)" "$(rss $agent)" "$(open_to_dest)"
for round in $(seq 1 "$rounds"); do
    lport=$(free_port)
    XDG_CONFIG_HOME=$tmp/cfg $bin/wicket forward "$name" "$lport:127.0.0.1:$sink_port" >"$tmp/fwd.out" 2>&1 &
    fwd=$!
    for _ in $(seq 1 100); do grep -q "Forwarding" "$tmp/fwd.out" 2>/dev/null && break; sleep 0.1; done
    rm -f "$tmp/pushed"
    python3 "$tmp/push.py" "$lport" "$conns" "$mib" "$tmp/pushed" &
    push=$!
    for _ in $(seq 1 600); do [ -s "$tmp/pushed" ] && break; sleep 0.2; done
    pushed=$(( $(cat "$tmp/pushed") >> 20 ))
    printf '%-34s %12s %12s %14s\n' "round $round: windows full (${pushed} MiB in)" \
        "$(rss $dev)" "$(rss $agent)" "$(open_to_dest)"
    # The user's link goes: `wicket forward` is killed, its clients with it.
    kill -9 "$fwd"; kill "$push"; wait "$fwd" "$push" 2>/dev/null || true
    fwd="" push=""
    sleep 5
    printf '%-34s %12s %12s %14s\n' "round $round: 5 s after the link went" \
        "$(rss $dev)" "$(rss $agent)" "$(open_to_dest)"
done
printf '%-34s %12s %12s\n' "peak (VmHWM)" "$(hwm $dev)" "$(hwm $agent)"
