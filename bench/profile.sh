#!/usr/bin/env bash
# Where the CPU goes on the data path: `perf record` of the whole machine while a session
# prints 1 GiB through a throw-away `wicketd dev` (CLI -> wicketd -> agent, TLS WebSockets on
# loopback), then the share of each process and the hottest symbols of each.
#   bench/profile.sh [session|unrecorded|forward] [MIB]      (default: session 1024)
# session: recorded (the default server); unrecorded: fail-open with an unwritable store;
# forward: MIB bytes through `wicket forward` into a sink on the target side.
# Needs perf (linux-perf); writes perf.data into a temporary folder and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-session}
mib=${2:-1024}
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 2; }
[ -n "${WICKET_BIN:-}" ] || cargo build --release --quiet
bin=$(cd "${WICKET_BIN:-target/release}" && pwd)
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pkill -f "state-dir $tmp" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

extra=()
if [ "$what" = unrecorded ]; then
  mkdir -p "$tmp/store"
  extra=(WICKET_RECORDING_STORE="$tmp/store" WICKET_RECORDING_ON_STORE_FAILURE=open)
fi
port=$(free_port)
env "${extra[@]}" XDG_CONFIG_HOME="$tmp/cfg" "$bin/wicketd" dev --data-dir "$tmp/data" \
  --listen "127.0.0.1:$port" >"$tmp/dev.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
target=$(grep -oE 'connect [^ ]+' "$tmp/dev.out" | head -n1 | cut -d' ' -f2)
[ "$what" = unrecorded ] && { rm -rf "$tmp/store"; touch "$tmp/store"; }
export XDG_CONFIG_HOME="$tmp/cfg"

case "$what" in
  session|unrecorded)
    # Output into a pipe, as a terminal or a script would read it (wicket polls a pipe itself;
    # /dev/null would send it through tokio's blocking pool).
    run=(bash -c "'$bin/wicket' connect '$target' -- \"head -c $((mib * 1048576)) /dev/zero | tr '\\\\0' x\" | cat >/dev/null") ;;
  forward)
    sink_port=$(free_port); local_port=$(free_port)
    python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
buf = bytearray(1 << 20)
while True:
    c, _ = s.accept()
    while c.recv_into(buf): pass
' "$sink_port" &
    pids+=($!)
    "$bin/wicket" forward "$target" "$local_port:127.0.0.1:$sink_port" >"$tmp/fwd.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do grep -q "Forwarding" "$tmp/fwd.out" 2>/dev/null && break; sleep 0.1; done
    run=(bash -c "head -c $((mib * 1048576)) /dev/zero | socat -u - TCP:127.0.0.1:$local_port") ;;
  *) echo "unknown workload $what" >&2; exit 2 ;;
esac

start=$(date +%s.%N)
perf record -a -F 999 -o "$tmp/perf.data" -- "${run[@]}" >/dev/null 2>"$tmp/perf.err"
end=$(date +%s.%N)
python3 - "$tmp/perf.data" "$mib" "$start" "$end" <<'PY'
import collections, re, subprocess, sys
data, mib, start, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,tid,ip,sym,dso", "-G"],
                     capture_output=True, text=True).stdout
samples, comms, total = [], collections.defaultdict(collections.Counter), 0
for line in out.splitlines():
    m = re.match(r"\s*(.*?)\s+(\d+)/(\d+)\s+[0-9a-f]+\s+(.*)$", line)
    if not m:
        continue
    comm, pid, _, rest = m.groups()
    total += 1
    samples.append((pid, re.sub(r"\s+\(.*\)$", "", rest)))
    comms[pid][comm] += 1
def name(pid):
    # A live process by its own name; one that has exited by its threads' most common name
    # other than tokio's worker threads.
    if pid == "0":
        return "idle"
    try:
        return f"{open(f'/proc/{pid}/comm').read().strip()} ({pid})"
    except OSError:
        pass
    best = [c for c, _ in comms[pid].most_common() if not c.startswith("tokio")]
    return f"{(best or [next(iter(comms[pid]))])[0]} ({pid})"
procs, syms = collections.Counter(), collections.defaultdict(collections.Counter)
for pid, sym in samples:
    procs[name(pid)] += 1
    syms[name(pid)][sym] += 1
secs = end - start
print(f"{mib} MiB in {secs:.2f} s ({mib * 1.048576 / secs:.0f} MB/s); {total} samples on all CPUs")
for proc, n in procs.most_common(8):
    print(f"{100 * n / total:5.1f}%  {proc}")
    if proc == "idle":
        continue
    for sym, k in syms[proc].most_common(6):
        print(f"          {100 * k / total:5.1f}%  {sym[:90]}")
PY
