#!/usr/bin/env bash
# Throughput of a session printing 1 GiB, recorded versus not recorded, on one machine.
#   bench/recording-overhead.sh [MIB] [CONTENT]   (default 1024 MiB of "x")
# CONTENT: x      one repeated character (compresses to almost nothing)
#          text   the plain-text files of /usr/share/doc (licences, changelogs, READMEs) over
#                 and over: prose and code, as a terminal shows it
#          base64 random bytes in base64, 76 columns (the worst case for compression:
#                 every recorded byte is stored at about 3/4 of its size)
# SERVER_CPUS=LIST (for example SERVER_CPUS=1) pins wicketd to those CPUs and the agent, the
# session and the client to the others, as when the control plane has a host of its own; unset,
# all of them share every core (the recorder then takes CPU from the session's own processes).
# ROUNDS=N runs each side N times (default 3), recorded and unrecorded in turn. WARM_MIB=N
# first writes and deletes N MiB of file, so the recorded runs do not pay a fresh VM's
# first-touch cost for the pages they write (see docs/PERFORMANCE.md).
# COMPRESS=0 asks for output uncompressed (`wicket connect --no-compress`) on both sides, as
# before protocol version 4: the recorder then compresses everything itself.
# "Not recorded" is the fail-open mode with a store that cannot be written, so the relay runs
# exactly as it does with recording, minus the recorder. The goal: recorded >= 90% of unrecorded.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
content=${2:-x}
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
case "$content" in
  x) produce="head -c $((mib * 1048576)) /dev/zero | tr '\\0' 'x'" ;;
  text)
    find /usr/share/doc /usr/share/common-licenses -type f ! -name '*.gz' 2>/dev/null | sort \
      | xargs cat 2>/dev/null | head -c $((32 * 1048576)) >"$tmp/corpus" || true
    # The loop ends when head has enough and cat fails on the closed pipe.
    produce="while cat $tmp/corpus; do :; done | head -c $((mib * 1048576))" ;;
  base64) produce="head -c $((mib * 1048576 * 3 / 4)) /dev/urandom | base64 -w 76 | head -c $((mib * 1048576))" ;;
  *) echo "unknown content $content (x, text or base64)" >&2; exit 2 ;;
esac
[ -n "${WICKET_BIN:-}" ] || cargo build --release --quiet
bin=$(cd "${WICKET_BIN:-target/release}" && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs in this shell (not in $(...)) so the EXIT trap knows the server's pid; sets $target.
start() { # name, extra env...
  local name=$1; shift
  local port; port=$(free_port)
  env "$@" XDG_CONFIG_HOME="$tmp/$name/cfg" "$bin/wicketd" dev --data-dir "$tmp/$name/data" \
    --listen "127.0.0.1:$port" >"$tmp/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do grep -q "Press Ctrl-C" "$tmp/$name.out" 2>/dev/null && break; sleep 0.2; done
  target=$(grep -oE 'connect [^ ]+' "$tmp/$name.out" | head -n1 | cut -d' ' -f2)
  if [ -n "${SERVER_CPUS:-}" ]; then
    taskset -a -cp "$SERVER_CPUS" "${pids[-1]}" >/dev/null
    taskset -a -cp "$others" "$(pgrep -f "state-dir $tmp/$name/data/agent")" >/dev/null
  fi
}

others=""
client=()
if [ -n "${SERVER_CPUS:-}" ]; then
  others=$(python3 -c 'import os,sys; s=set(); [s.update(range(int(a), int(b or a)+1)) for a,_,b in (p.partition("-") for p in sys.argv[1].split(","))]; print(",".join(str(c) for c in sorted(os.sched_getaffinity(0)) if c not in s))' "$SERVER_CPUS")
  [ -n "$others" ] || { echo "SERVER_CPUS leaves no CPU for the agent and the client" >&2; exit 2; }
  client=(taskset -c "$others")
fi

# Alternates recorded and unrecorded runs (ROUNDS of each, default 3) so that drift in the
# machine's speed hits both alike; prints the best MB/s of each.
# Also sums each wicketd's CPU time over its runs: what one recorded GiB costs the control plane.
rates() {
  python3 - "$bin/wicket" "$mib" "${ROUNDS:-3}" "$produce" "$tmp" "$on" "$off" "${pids[0]}" "${pids[1]}" "${COMPRESS:-1}" "${client[@]}" <<'PY'
import os, subprocess, sys, time
wicket, mib, rounds, produce, tmp, on, off, pid_on, pid_off, compress = sys.argv[1:11]
mib, rounds, prefix = int(mib), int(rounds), sys.argv[11:]
flags = [] if compress != "0" else ["--no-compress"]
def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
best = {"on": 0.0, "off": 0.0}
used = {"on": 0.0, "off": 0.0}
for _ in range(rounds):
    for name, target, pid in (("on", on, pid_on), ("off", off, pid_off)):
        env = dict(os.environ, XDG_CONFIG_HOME=f"{tmp}/{name}/cfg")
        before = cpu(pid)
        t = time.perf_counter()
        p = subprocess.run(prefix + [wicket, "connect", *flags, target, "--", produce],
                           stdout=subprocess.PIPE, check=True, env=env)
        secs = time.perf_counter() - t
        used[name] += cpu(pid) - before
        assert len(p.stdout) == mib * 1048576, len(p.stdout)
        best[name] = max(best[name], mib * 1.048576 / secs)
gib = rounds * mib / 1024
print(f"{best['on']:.1f} {best['off']:.1f} {used['on'] / gib:.2f} {used['off'] / gib:.2f}")
PY
}

mkdir -p "$tmp/off"
start on; on=$target
start off WICKET_RECORDING_STORE="$tmp/off/store" WICKET_RECORDING_ON_STORE_FAILURE=open; off=$target
# The store must exist when the server starts; then it becomes unwritable.
rm -rf "$tmp/off/store" && touch "$tmp/off/store"
if [ -n "${WARM_MIB:-}" ]; then
  # A fresh VM's host backs guest memory on first touch (about 2.5 s of system time per GiB
  # here, against 0.3 s for pages touched before); only the recorded runs write new pages.
  # Touch WARM_MIB of page cache once and free it, as a server that has run a while has.
  head -c $((WARM_MIB * 1048576)) /dev/zero >"$tmp/warm" && rm "$tmp/warm"
fi
read -r r_on r_off c_on c_off < <(rates)
grep -q unrecorded <(XDG_CONFIG_HOME="$tmp/off/cfg" "$bin/wicket" sessions --output json) || { echo "the 'off' server recorded after all" >&2; exit 1; }
where="all sharing $(nproc) cores"
[ -z "${SERVER_CPUS:-}" ] || where="wicketd on CPU $SERVER_CPUS, agent and client on CPU $others"
[ -z "${WARM_MIB:-}" ] || where="$where, $WARM_MIB MiB of memory warmed"
[ "${COMPRESS:-1}" != 0 ] || where="$where, output uncompressed (--no-compress)"
echo "session printing ${mib} MiB of '$content', best of ${ROUNDS:-3} each, alternating ($where):"
printf '  recorded     %8s MB/s   wicketd %5s s CPU per GiB\n  not recorded %8s MB/s   wicketd %5s s CPU per GiB\n' "$r_on" "$c_on" "$r_off" "$c_off"
python3 -c "import sys; print(f'  recorded / not recorded = {float(sys.argv[1])/float(sys.argv[2])*100:.0f}%')" "$r_on" "$r_off"
