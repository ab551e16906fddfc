#!/usr/bin/env bash
# wicket against OpenSSH through a bastion, side by side, on one machine, in one run.
#
# Starts two sshd on loopback (a bastion and a target, both this machine), an iperf3 server
# "behind" the target, and `wicketd dev` (server + this host enrolled as an agent), then
# measures each path and prints a table with ratios (wicket / bastion).
#
#   bench/vs-bastion.sh            # needs: sshd ssh scp iperf3 hyperfine python3 (Debian packages
#                                  #   openssh-server openssh-client iperf3 hyperfine)
# Environment: WICKET_BIN (default: build and use target/release), COPY_MIB (default 1024),
# BULK_MIB (size of each bulk-output file, default 1024), BULK_ROUNDS (runs of each side, taking
# turns, best of each; default 3),
# IPERF_SECS (default 10), RUNS (remote-command runs, default 30), ECHO_SAMPLES (keystrokes
# per echo round, default 300), ECHO_ROUNDS (default 5), ECHO_TRACE=1 (one more echo round each
# under bpftrace: each process's CPU time per keystroke on the echo's path; root),
# PARTS (which measurements, default "forward copy bulk command echo").
#
# Both paths run on the same loopback, so the figures compare the software, not a network.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

copy_mib=${COPY_MIB:-1024}
bulk_mib=${BULK_MIB:-1024}
parts=" ${PARTS:-forward copy bulk command echo} "
part() { [[ $parts == *" $1 "* ]]; }
iperf_secs=${IPERF_SECS:-10}
runs=${RUNS:-30}
echo_samples=${ECHO_SAMPLES:-300}
echo_rounds=${ECHO_ROUNDS:-5}

for tool in sshd ssh scp iperf3 hyperfine python3; do
  command -v "$tool" >/dev/null || { [ -x "/usr/sbin/$tool" ] && continue; echo "missing: $tool" >&2; exit 2; }
done
sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
[ "${ECHO_TRACE:-0}" != 1 ] || command -v bpftrace >/dev/null || { echo "ECHO_TRACE=1 needs bpftrace" >&2; exit 2; }

[ -n "${WICKET_BIN:-}" ] || cargo build --release --quiet
bin=$(cd "${WICKET_BIN:-target/release}" && pwd)

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
# Waits for a listener without connecting to it (a probe through a forward would reach iperf3
# and confuse its one-test-at-a-time server).
wait_listen() { for _ in $(seq 1 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; echo "port $1 never listened" >&2; return 1; }
log() { printf '  .. %s\n' "$*" >&2; }

# --- OpenSSH: bastion and target -------------------------------------------------------------
mkdir -p /run/sshd "$tmp/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/ssh/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/ssh/user_key"
cp "$tmp/ssh/user_key.pub" "$tmp/ssh/authorized_keys"
chmod 600 "$tmp/ssh/authorized_keys"
me=$(id -un)
start_sshd() { # name port
  cat >"$tmp/ssh/$1.conf" <<EOF
ListenAddress 127.0.0.1:$2
HostKey $tmp/ssh/host_key
AuthorizedKeysFile $tmp/ssh/authorized_keys
PidFile $tmp/ssh/$1.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
Subsystem sftp internal-sftp
EOF
  "$sshd_bin" -D -e -f "$tmp/ssh/$1.conf" 2>"$tmp/ssh/$1.log" &
  pids+=($!)
  wait_port "$2"
}
bastion_port=$(free_port); start_sshd bastion "$bastion_port"
target_port=$(free_port); start_sshd target "$target_port"
cat >"$tmp/ssh/config" <<EOF
Host *
  User $me
  IdentityFile $tmp/ssh/user_key
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
Host bastion
  HostName 127.0.0.1
  Port $bastion_port
Host target
  HostName 127.0.0.1
  Port $target_port
  ProxyJump bastion
EOF
sshc=(ssh -F "$tmp/ssh/config")
"${sshc[@]}" target true || { echo "ssh through the bastion does not work" >&2; cat "$tmp/ssh/"*.log >&2; exit 1; }
log "sshd bastion :$bastion_port, target :$target_port"

# --- wicket: server and agent ------------------------------------------------------------------
export XDG_CONFIG_HOME=$tmp/cfg
wicket_port=$(free_port)
"$bin/wicketd" dev --data-dir "$tmp/wicket" --listen "127.0.0.1:$wicket_port" >"$tmp/dev.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do grep -q "Press Ctrl-C" "$tmp/dev.out" 2>/dev/null && break; sleep 0.2; done
name=$(grep -oE 'connect [^ ]+' "$tmp/dev.out" | head -n1 | cut -d' ' -f2)
[ -n "$name" ] || { echo "wicketd dev did not start" >&2; cat "$tmp/dev.out" >&2; exit 1; }
"$bin/wicket" connect "$name" -- true
log "wicketd :$wicket_port, target $name"

has() { "$bin/wicket" help "$1" >/dev/null 2>&1; }

# --- results -----------------------------------------------------------------------------------
rows=()
row() { rows+=("$(printf '%-44s %14s %14s %8s' "$1" "$2" "$3" "$4")"); }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x' if b else 'n/a')" "$1" "$2"; }

# 1. iperf3 through a port forward.
if part forward; then
iperf_port=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$iperf_port" >/dev/null 2>&1 &
pids+=($!)
wait_listen "$iperf_port"
iperf_mbps() { # local port -> MB/s received
  iperf3 -c 127.0.0.1 -p "$1" -t "$iperf_secs" -J |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit("iperf3: " + d["error"]) if "error" in d else print("%.1f" % (d["end"]["sum_received"]["bits_per_second"]/8e6))'
}
ssh_lp=$(free_port)
"${sshc[@]}" -N -L "127.0.0.1:$ssh_lp:127.0.0.1:$iperf_port" target &
pids+=($!)
wait_listen "$ssh_lp"
log "iperf3 via ssh -J -L"
ssh_fwd=$(iperf_mbps "$ssh_lp")
if has forward; then
  w_lp=$(free_port)
  "$bin/wicket" forward "$name" "$w_lp:127.0.0.1:$iperf_port" >"$tmp/forward.out" 2>&1 &
  pids+=($!)
  wait_listen "$w_lp"
  log "iperf3 via wicket forward"
  w_fwd=$(iperf_mbps "$w_lp")
  row "forward throughput, iperf3 (MB/s, higher=better)" "$w_fwd" "$ssh_fwd" "$(ratio "$w_fwd" "$ssh_fwd")"
else
  row "forward throughput, iperf3 (MB/s)" "n/a" "$ssh_fwd" "n/a"
fi
fi

secs() { python3 -c 'import sys,time,subprocess; t=time.perf_counter(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); print(f"{time.perf_counter()-t:.2f}")' "$@"; }

# 2. A 1 GiB copy.
if part copy; then
log "making a ${copy_mib} MiB file"
head -c "$((copy_mib * 1024 * 1024))" /dev/urandom >"$tmp/blob"
mkdir -p "$tmp/dst"
mbps() { python3 -c "import sys; print(f'{$copy_mib*1.048576/float(sys.argv[1]):.1f}')" "$1"; }
log "scp -J bastion"
scp_j=$(secs scp -q -F "$tmp/ssh/config" "$tmp/blob" "target:$tmp/dst/scp-j"); rm -f "$tmp/dst/scp-j"
has proxy && {
  log "scp via wicket proxy"
  scp_w=$(secs scp -q -F "$tmp/ssh/config" -o "ProxyJump=none" -o "ProxyCommand=$bin/wicket proxy $name %p" "$tmp/blob" "target:$tmp/dst/scp-w")
  rm -f "$tmp/dst/scp-w"
  row "${copy_mib} MiB copy: scp via wicket proxy (MB/s)" "$(mbps "$scp_w")" "$(mbps "$scp_j")" "$(ratio "$scp_j" "$scp_w")"
}
if has cp; then
  log "wicket cp"
  cp_w=$(secs "$bin/wicket" cp "$tmp/blob" "$name:$tmp/dst/wcp")
  cmp -s "$tmp/blob" "$tmp/dst/wcp" || { echo "wicket cp: copy differs" >&2; exit 1; }
  rm -f "$tmp/dst/wcp"
  row "${copy_mib} MiB copy: wicket cp (MB/s)" "$(mbps "$cp_w")" "$(mbps "$scp_j")" "$(ratio "$scp_j" "$cp_w")"
else
  row "${copy_mib} MiB copy: wicket cp (MB/s)" "n/a" "$(mbps "$scp_j")" "n/a"
fi
rm -f "$tmp/blob"
fi

# 2b. Bulk output of a remote command (`cat FILE > local`), recorded: random bytes (binary,
# incompressible) and text (compresses several times). Each side's output is checked.
if part bulk; then
  log "making ${bulk_mib} MiB of random and of text output"
  head -c "$((bulk_mib * 1024 * 1024))" /dev/urandom >"$tmp/random"
  find /usr/share/doc /usr/share/common-licenses -type f ! -name '*.gz' 2>/dev/null | sort \
    | xargs cat 2>/dev/null | head -c $((32 * 1048576)) >"$tmp/corpus" || true
  (while cat "$tmp/corpus"; do :; done) 2>/dev/null | head -c "$((bulk_mib * 1024 * 1024))" >"$tmp/text"
  bulk_secs() { # file, command... -> seconds; the output must equal the file
    local file=$1; shift
    python3 -c 'import sys,time,subprocess; t=time.perf_counter(); subprocess.run(sys.argv[2:], check=True, stdout=open(sys.argv[1], "wb")); print(f"{time.perf_counter()-t:.2f}")' "$tmp/got" "$@"
    cmp -s "$tmp/got" "$file" || { echo "bulk output differs: $*" >&2; exit 1; }
    rm -f "$tmp/got"
  }
  # Each side's output file is deleted after each round, so its page cache is recycled, as on a
  # server that has run a while. The recordings are checked and deleted likewise: on a VM that
  # backs guest memory on first touch, writing into never-used pages costs over ten times the
  # CPU of recycled ones (docs/PERFORMANCE.md), which would charge wicket alone for the VM.
  recordings=$tmp/wicket/server/recordings/recordings
  forget_recordings() {
    local stored
    stored=$(du -sb "$recordings" | cut -f1)
    [ "$stored" -ge $((bulk_mib * 1048576 / 8)) ] || { echo "the bulk output was not recorded ($stored bytes stored)" >&2; exit 1; }
    rm -rf "${recordings:?}"/*
  }
  bmbps() { python3 -c "import sys; print(f'{$bulk_mib*1.048576/float(sys.argv[1]):.1f}')" "$1"; }
  for kind in random text; do
    log "bulk output ($kind): ssh -J, then wicket connect"
    b_s=999999 b_w=999999
    for _ in $(seq 1 "${BULK_ROUNDS:-3}"); do
      b_s=$(python3 -c 'import sys; print(min(map(float, sys.argv[1:])))' "$b_s" "$(bulk_secs "$tmp/$kind" "${sshc[@]}" target cat "$tmp/$kind")")
      b_w=$(python3 -c 'import sys; print(min(map(float, sys.argv[1:])))' "$b_w" "$(bulk_secs "$tmp/$kind" "$bin/wicket" connect "$name" -- cat "$tmp/$kind")")
      forget_recordings
    done
    row "${bulk_mib} MiB output, cat $kind (MB/s)" "$(bmbps "$b_w")" "$(bmbps "$b_s")" "$(ratio "$b_s" "$b_w")"
  done
  rm -f "$tmp/random" "$tmp/text" "$tmp/corpus"
fi

# 3. One remote command, median of many runs (lower is better, so the ratio is bastion/wicket).
if part command; then
log "remote command x$runs"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$tmp/cmd.json" \
  "$bin/wicket connect $name -- true" "ssh -F $tmp/ssh/config target true" >/dev/null
read -r cmd_w cmd_s < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.1f" % (x["median"]*1000) for x in r))' "$tmp/cmd.json")
row "remote command 'true', median (ms)" "$cmd_w" "$cmd_s" "$(ratio "$cmd_w" "$cmd_s")"
fi

# 4. Keystroke echo through an interactive client and a remote cat, in rounds that take turns
# (wicket, then ssh), so a machine whose speed drifts from minute to minute drifts for both;
# each figure is the median of the rounds' p50 (or p99).
if part echo; then
log "echo latency, $echo_rounds rounds of $echo_samples keystrokes"
remote='stty raw -echo; exec cat'
: >"$tmp/echo.txt"
for round in $(seq 1 "$echo_rounds"); do
  read -r w50 w99 _ < <(python3 bench/echo_latency.py --samples "$echo_samples" -- "$bin/wicket" connect -t "$name" -- "$remote")
  read -r s50 s99 _ < <(python3 bench/echo_latency.py --samples "$echo_samples" -- ssh -F "$tmp/ssh/config" -tt target "$remote")
  log "   round $round: p50 $w50 / $s50 ms, p99 $w99 / $s99 ms (wicket / ssh)"
  echo "$w50 $w99 $s50 $s99" >>"$tmp/echo.txt"
done
read -r ew50 ew99 es50 es99 < <(python3 -c 'import statistics,sys; cols=list(zip(*(map(float,l.split()) for l in open(sys.argv[1])))); print(" ".join("%.3f" % statistics.median(c) for c in cols))' "$tmp/echo.txt")
row "keystroke echo p50, median of rounds (ms)" "$ew50" "$es50" "$(ratio "$ew50" "$es50")"
row "keystroke echo p99, median of rounds (ms)" "$ew99" "$es99" "$(ratio "$ew99" "$es99")"
fi

# 5. (ECHO_TRACE=1, needs bpftrace and root) One more echo round each, traced: every process's
# CPU time between a keystroke's write and its echo's read, per keystroke. On a machine where
# the chain runs serially these add up to the latency (docs/PERFORMANCE.md, "Keystroke echo").
traces=()
if [ "${ECHO_TRACE:-0}" = 1 ]; then
  mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing || true
  for side in wicket ssh; do
    if [ "$side" = wicket ]; then client=("$bin/wicket" connect -t "$name" --); else client=("${sshc[@]}" -tt target); fi
    bpftrace -q bench/echo-window.bt >"$tmp/trace.$side" 2>"$tmp/trace.$side.err" &
    tpid=$!
    sleep 3 # attaching takes bpftrace a second or two; -q leaves nothing to wait for
    if ! kill -0 "$tpid" 2>/dev/null; then # keep the table: report the failure in its place
      traces+=("$side: bpftrace did not start: $(head -c 300 "$tmp/trace.$side.err" | tr '\n' ' ')")
      continue
    fi
    log "echo, traced: $side"
    python3 bench/echo_latency.py --samples "$echo_samples" -- "${client[@]}" "$remote" >/dev/null
    kill -INT "$tpid"; wait "$tpid" || true
    traces+=("$(python3 - "$tmp/trace.$side" "$side" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
n = re.search(r"@n: (\d+)", text)
if not n:  # print, do not fail: the table above must still come out
    print(f"{sys.argv[2]}: bpftrace gave no windows: {text[-300:]!r}")
    sys.exit(0)
n = int(n.group(1))
window = int(re.search(r"@window: (\d+)", text).group(1)) / n / 1000
on = sorted(((int(v) / n / 1000, k) for k, v in re.findall(r"@on\[(.*?)\]: (\d+)", text)
             if not k.startswith("swapper")), reverse=True)
print(f"{sys.argv[2]:7s} {window:6.0f} us per keystroke: " + ", ".join(f"{k} {v:.0f}" for v, k in on[:8] if v >= 1))
PY
)")
  done
fi

echo
echo "wicket vs OpenSSH through a bastion ($(nproc) cores, $(uname -srm), $(ssh -V 2>&1 | cut -d, -f1))"
printf '%-44s %14s %14s %8s\n' "" "wicket" "ssh -J" "ratio"
printf '%s\n' "${rows[@]}"
echo "ratio = wicket / ssh: above 1 is better for MB/s rows, below 1 is better for ms rows."
if [ ${#traces[@]} -gt 0 ]; then
  echo
  echo "echo, CPU time on the path (us per keystroke, one traced round; wicketd runs as tokio-rt-worker)"
  printf '%s\n' "${traces[@]}"
fi
