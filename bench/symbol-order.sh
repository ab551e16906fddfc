#!/usr/bin/env bash
# Regenerates crates/wicket/order/*.txt: each binary's functions on the keystroke-echo path
# first (bench/callgrind_hot.py), which the release build hands to lld
# (--symbol-ordering-file) so they sit together in about fifty pages of text instead of about
# a hundred and twenty (docs/PERFORMANCE.md, item 12 under "Profiling"). Rerun after a
# dependency, toolchain or version change: the lists name mangled symbols, and those carry
# hashes that such changes move. A stale list costs speed, never correctness.
#
#   bench/symbol-order.sh [--check]   # needs valgrind (callgrind), nm and python3
# --check only builds and reports, for each release binary, how many listed symbols it has
# and whether the first ones were laid out together; it fails if a binary has fewer than 80%
# of its list or its hot functions are spread out.
# Environment: KEYS (keystrokes profiled, default 300, in two windows), KEEP=1 (keep the
# callgrind dumps and say where).
set -euo pipefail
cd "$(dirname "$0")/.."
order=crates/wicket/order
bins=(wicketd wicket-agent wicket)
keys=${KEYS:-300}

check() {
  local ok=0
  for b in "${bins[@]}"; do
    python3 - "$order/$b.txt" "target/release/$b" <<'PY' || ok=1
import subprocess, sys
listed = [l.strip() for l in open(sys.argv[1]) if l.strip()]
nm = subprocess.run(["nm", sys.argv[2]], capture_output=True, text=True, check=True).stdout
addr = {}
for row in nm.splitlines():
    cols = row.split()
    if len(cols) == 3:
        addr[cols[2]] = int(cols[0], 16)
found = [addr[s] for s in listed if s in addr]
# The first fifty listed functions take well under 512 KiB; unordered, they spread over MiBs.
head = found[:50]
span = (max(head) - min(head)) // 1024 if head else 0
print(f"{sys.argv[2].rsplit('/', 1)[-1]}: {len(found)} of {len(listed)} listed symbols present, "
      f"the first {len(head)} within {span} KiB")
if len(found) * 5 < len(listed) * 4:
    sys.exit("  stale: run bench/symbol-order.sh to regenerate crates/wicket/order/")
if span >= 512:
    sys.exit("  not laid out: the linker did not take the list (crates/wicket/build.rs)")
PY
  done
  return $ok
}

cargo build --release --locked --quiet --bins
if [ "${1:-}" = --check ]; then check; exit; fi
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 2; }

tmp=$(mktemp -d)
dev=
cleanup() {
  [ -z "$dev" ] || kill "$dev" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "dumps kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
export XDG_CONFIG_HOME=$tmp/cfg
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Instrumentation starts off and is switched on only around the timed keystrokes, so start-up,
# login and the TLS handshakes stay out of the lists; a dump halfway splits them into two
# windows, and only what ran in both counts as the keystroke's path. Children are followed
# (the agent is wicketd's child), the session's shell and cat are not. No recursion levels in
# names (--separate-recs=1): lld could not match `name'2`.
vg=(valgrind --tool=callgrind --instr-atstart=no --separate-recs=1 --demangle=no
  --trace-children=yes "--trace-children-skip=/bin/*,/usr/bin/*,/usr/sbin/*,/sbin/*"
  "--callgrind-out-file=$tmp/cg.%p")
"${vg[@]}" target/release/wicketd dev --data-dir "$tmp/w" --listen "127.0.0.1:$port" \
  >"$tmp/dev.out" 2>&1 &
dev=$!
for _ in $(seq 1 600); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
name=$({ grep -oE 'connect [^ ]+' "$tmp/dev.out" || true; } | head -n1 | cut -d' ' -f2)
[ -n "$name" ] || { echo "wicketd dev did not start under valgrind" >&2; cat "$tmp/dev.out" >&2; exit 1; }
python3 bench/echo_latency.py --samples "$keys" \
  --on "callgrind_control --instr=on >/dev/null" \
  --mid "callgrind_control --dump >/dev/null" \
  --off "callgrind_control --dump >/dev/null && callgrind_control --instr=off >/dev/null" \
  -- "${vg[@]}" target/release/wicket connect -t "$name" -- 'stty raw -echo; exec cat' >/dev/null
# Written aside and moved together, so a failed run leaves the committed lists as they were.
ls "$tmp"/cg.*.[12] >/dev/null 2>&1 || { echo "callgrind wrote no dumps" >&2; exit 1; }
mkdir -p "$tmp/order"
for b in "${bins[@]}"; do
  python3 bench/callgrind_hot.py "target/release/$b" $((keys / 2)) "$tmp"/cg.*.[12] >"$tmp/order/$b.txt"
  [ -s "$tmp/order/$b.txt" ] || { echo "no profile for $b" >&2; exit 1; }
done
mkdir -p "$order"
mv "$tmp"/order/*.txt "$order/"
cargo build --release --locked --quiet --bins
check
