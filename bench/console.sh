#!/usr/bin/env bash
# The web console against the CLI, in one run on one `wicketd dev`: keystroke echo p50 and p99
# (the console measured in the page, from xterm.js's input to the echo in its buffer, and to
# the cell drawn on the next frame; the CLI by bench/echo_latency.py under a real PTY), the time from the Connect click to the first
# prompt, and the JavaScript and CSS the first load transfers (gzip, as served).
#
#   bench/console.sh      # needs: chromium, node, python3, `npm ci` in crates/testkit/browser
# Environment: WICKET_BIN (default: build and use target/release), SAMPLES (keystrokes, 300),
# ROUNDS (echo rounds taking turns, console then CLI; default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${WICKET_BIN:-}" ] || cargo build --release --quiet
bin=$(cd "${WICKET_BIN:-target/release}" && pwd)
samples=${SAMPLES:-300}
rounds=${ROUNDS:-3}

tmp=$(mktemp -d)
cleanup() { [ -n "${dev:-}" ] && kill "$dev" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
export XDG_CONFIG_HOME=$tmp/cfg
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/wicketd" dev --data-dir "$tmp/wicket" --listen "127.0.0.1:$port" >"$tmp/dev.out" 2>&1 &
dev=$!
for _ in $(seq 1 150); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
name=$(grep -oE 'connect [^ ]+' "$tmp/dev.out" | head -n1 | cut -d' ' -f2)
password=$(grep -oE 'admin / [^ ]+' "$tmp/dev.out" | head -n1 | cut -d' ' -f3)
[ -n "$name" ] && [ -n "$password" ] || { echo "wicketd dev did not start" >&2; cat "$tmp/dev.out" >&2; exit 1; }

remote='stty raw -echo; exec cat'
: >"$tmp/rounds.txt"
for round in $(seq 1 "$rounds"); do
  c=$(node bench/console.mjs "https://127.0.0.1:$port/" admin "$password" "$name" "$samples")
  read -r w50 w99 _ < <(python3 bench/echo_latency.py --samples "$samples" -- "$bin/wicket" connect -t "$name" -- "$remote")
  read -r c50 c99 d50 d99 click bytes < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.3f %.3f %.3f %.3f %.1f %d" % (d["echo_ms"]["p50"], d["echo_ms"]["p99"], d["drawn_ms"]["p50"], d["drawn_ms"]["p99"], d["click_to_prompt_ms"]["median"], d["js_css_gzip_bytes"]))' "$c")
  printf '  .. round %d: echo p50 %s / %s ms, p99 %s / %s ms (console / CLI), drawn p50 %s p99 %s; click to prompt %s ms\n' \
    "$round" "$c50" "$w50" "$c99" "$w99" "$d50" "$d99" "$click" >&2
  echo "$c50 $c99 $w50 $w99 $click $bytes $d50 $d99" >>"$tmp/rounds.txt"
done
python3 - "$tmp/rounds.txt" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
c50, c99, w50, w99, click, size, d50, d99 = (statistics.median(c) for c in zip(*rows))
print(f"wicket web console vs CLI ({len(rows)} rounds, medians)")
print(f"{'':34} {'console':>10} {'CLI':>10} {'ratio':>8}")
print(f"{'keystroke echo p50 (ms)':34} {c50:10.3f} {w50:10.3f} {c50 / w50:7.2f}x")
print(f"{'keystroke echo p99 (ms)':34} {c99:10.3f} {w99:10.3f} {c99 / w99:7.2f}x")
print(f"{'echo drawn by the page, p50 (ms)':34} {d50:10.3f}")
print(f"{'echo drawn by the page, p99 (ms)':34} {d99:10.3f}")
print(f"{'Connect click to first prompt (ms)':34} {click:10.1f}")
print(f"{'JS + CSS of the first load (KiB gz)':34} {size / 1024:10.1f}")
PY
