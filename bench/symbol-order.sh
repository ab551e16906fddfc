#!/usr/bin/env bash
# Regenerates crates/wicket/order/*.txt: each binary's functions on the keystroke-echo path
# first (bench/callgrind_hot.py), which the release build hands to lld (--symbol-ordering-file)
# so they sit together in about fifty pages of text instead of about a hundred and twenty
# (docs/PERFORMANCE.md, item 12 under "Profiling"). Rerun after a dependency, toolchain or version change: the lists name mangled
# symbols, and those carry hashes that such changes move. `--check` only reports how many
# listed symbols the current release binaries still have, and fails under 80%.
#
#   bench/symbol-order.sh [--check]      # needs valgrind (callgrind) and python3
# Environment: KEYS (keystrokes profiled, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."
order=crates/wicket/order
bins=(wicketd wicket-agent wicket)

# How many listed symbols each release binary has; fails under 80%, where the layout is mostly
# lost and the lists want regenerating.
coverage() {
  local ok=0
  for b in "${bins[@]}"; do
    python3 - "$order/$b.txt" "target/release/$b" <<'PY' || ok=1
import subprocess, sys
listed = [l.strip() for l in open(sys.argv[1]) if l.strip()]
have = set(subprocess.run(["nm", sys.argv[2]], capture_output=True, text=True, check=True).stdout.split())
found = sum(1 for s in listed if s in have)
print(f"{sys.argv[2].rsplit('/', 1)[-1]}: {found} of {len(listed)} listed symbols present")
if found * 5 < len(listed) * 4:
    sys.exit("  stale: run bench/symbol-order.sh to regenerate crates/wicket/order/")
PY
  done
  return $ok
}

cargo build --release --quiet --bins
if [ "${1:-}" = --check ]; then coverage; exit; fi
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 2; }

tmp=$(mktemp -d)
dev=
cleanup() { [ -z "$dev" ] || kill "$dev" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT
export XDG_CONFIG_HOME=$tmp/cfg
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Instrumentation starts off and is switched on only around the timed keystrokes, so start-up,
# login and the TLS handshakes stay out of the lists. Children are followed (the agent is
# wicketd's child), the session's shell and cat are not.
vg=(valgrind --tool=callgrind --instr-atstart=no --demangle=no --trace-children=yes
  "--trace-children-skip=/bin/*,/usr/bin/*,/usr/sbin/*,/sbin/*"
  "--callgrind-out-file=$tmp/cg.%p")
"${vg[@]}" target/release/wicketd dev --data-dir "$tmp/w" --listen "127.0.0.1:$port" >"$tmp/dev.out" 2>&1 &
dev=$!
for _ in $(seq 1 600); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
name=$(grep -oE 'connect [^ ]+' "$tmp/dev.out" | head -n1 | cut -d' ' -f2)
[ -n "$name" ] || { echo "wicketd dev did not start under valgrind" >&2; cat "$tmp/dev.out" >&2; exit 1; }
python3 bench/echo_latency.py --samples "${KEYS:-300}" \
  --on 'callgrind_control --instr=on >/dev/null 2>&1' \
  --off 'callgrind_control --dump >/dev/null && callgrind_control --instr=off >/dev/null 2>&1' \
  -- "${vg[@]}" target/release/wicket connect -t "$name" -- 'stty raw -echo; exec cat' >/dev/null
mkdir -p "$order"
for b in "${bins[@]}"; do
  python3 bench/callgrind_hot.py "target/release/$b" "${KEYS:-300}" "$tmp"/cg.*.1 >"$order/$b.txt"
  [ -s "$order/$b.txt" ] || { echo "no profile for $b" >&2; exit 1; }
done
cargo build --release --quiet --bins
coverage
