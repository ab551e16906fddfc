#!/usr/bin/env bash
# Throughput of a session printing 1 GiB, recorded versus not recorded, on one machine.
#   bench/recording-overhead.sh [MIB] [CONTENT]   (default 1024 MiB of "x")
# CONTENT: x      one repeated character (compresses to almost nothing)
#          text   the plain-text files of /usr/share/doc (licences, changelogs, READMEs) over
#                 and over: prose and code, as a terminal shows it
#          base64 random bytes in base64, 76 columns (the worst case for compression:
#                 every recorded byte is stored at about 3/4 of its size)
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
}

rate() { # name target -> MB/s
  XDG_CONFIG_HOME="$tmp/$1/cfg" python3 - "$bin/wicket" "$2" "$mib" "$produce" <<'PY'
import subprocess, sys, time
wicket, target, mib, produce = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cmd = [wicket, "connect", target, "--", produce]
best = 0.0
for _ in range(3):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, check=True)
    secs = time.perf_counter() - t
    assert len(p.stdout) == mib * 1048576, len(p.stdout)
    best = max(best, mib * 1.048576 / secs)
print(f"{best:.1f}")
PY
}

mkdir -p "$tmp/off"
start on; on=$target
start off WICKET_RECORDING_STORE="$tmp/off/store" WICKET_RECORDING_ON_STORE_FAILURE=open; off=$target
# The store must exist when the server starts; then it becomes unwritable.
rm -rf "$tmp/off/store" && touch "$tmp/off/store"
r_on=$(rate on "$on")
r_off=$(rate off "$off")
grep -q unrecorded <(XDG_CONFIG_HOME="$tmp/off/cfg" "$bin/wicket" sessions --output json) || { echo "the 'off' server recorded after all" >&2; exit 1; }
echo "session printing ${mib} MiB of '$content', best of 3 ($(nproc) cores):"
printf '  recorded     %8s MB/s\n  not recorded %8s MB/s\n' "$r_on" "$r_off"
python3 -c "import sys; print(f'  recorded / not recorded = {float(sys.argv[1])/float(sys.argv[2])*100:.0f}%')" "$r_on" "$r_off"
