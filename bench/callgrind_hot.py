#!/usr/bin/env python3
"""The functions of one binary that ran in callgrind dumps, those on every keystroke's path first.

    callgrind_hot.py BINARY_PATH KEYS_PER_WINDOW DUMP...

Prints mangled names for lld's --symbol-ordering-file (bench/symbol-order.sh). Each dump of
the binary is one window of KEYS_PER_WINDOW keystrokes. The keystroke's path is what ran in
every window at least once per two keystrokes, or, entered at most once, ran at least 20
instructions per keystroke: a loop entered before the window (a runtime's `block_on`, a
link's read loop) or code reached by tail jumps, which callgrind does not count as calls.
Asking for every window keeps out one-off work that happened to fall in one (a handshake's
inner loops are called thousands of times, but once). That group comes first, densest
(instructions per byte, sizes from `nm -S BINARY_PATH`) first, so a large function with one
hot loop (an async state machine holding a whole command) ends the group instead of pushing
the small hot ones apart; everything else that ran follows, by instructions.
"""
import collections
import os
import re
import subprocess
import sys


def parse(path, binary):
    """(command line, {function: [calls, instructions]}) of one dump, for BINARY's own code.

    The format compresses names ("(12) name" once, "(12)" after), names a callee's object
    with cob= only when it differs from the caller's, and follows each calls= line with the
    call's inclusive cost, which is not the caller's own."""
    names = {"ob": {}, "fn": {}}

    def name(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        if m.group(2):
            # A recursion level (`name'2`) is the same symbol to the linker.
            names[kind][m.group(1)] = re.sub(r"'\d+$", "", m.group(2))
        return names[kind].get(m.group(1), "?")

    def ours(ob):
        return (ob or "").endswith("/" + binary)

    stats = collections.defaultdict(lambda: [0, 0])
    cmd, ob, cob, fn, callee, after_calls = "", None, None, None, None, False
    positions = 1  # columns before the costs: "line", or "instr line" with --dump-instr
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("positions:"):
            positions = len(line.split()) - 1
        elif line.startswith("cmd:"):
            cmd = line[4:].strip()
        elif line.startswith("ob="):
            ob, cob = name("ob", line[3:]), None
        elif line.startswith("cob="):
            cob = name("ob", line[4:])
        elif line.startswith("fn="):
            fn, cob = name("fn", line[3:]), None
        elif line.startswith("cfn="):
            # Always resolve: the first mention of a compressed name defines it.
            callee = name("fn", line[4:])
            if not ours(cob or ob):
                callee = None
        elif line.startswith("calls="):
            after_calls = True
            if callee:
                stats[callee][0] += int(line[6:].split()[0])
            cob = None  # a cob= line names the callee's object for one call only
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_calls:
                after_calls = False
                continue
            parts = line.split()
            if fn and ours(ob) and len(parts) > positions:
                stats[fn][1] += int(parts[positions])
    return cmd, stats


def main():
    binary_path, keys, dumps = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    binary = os.path.basename(binary_path)
    nm = subprocess.run(["nm", "-S", binary_path], capture_output=True, text=True, check=True)
    sizes = {}
    for row in nm.stdout.splitlines():
        cols = row.split()
        if len(cols) == 4:
            sizes[cols[3]] = int(cols[1], 16)

    def hot(calls, ir):
        return calls * 2 >= keys or (calls <= 1 and ir >= keys * 20)

    windows = []
    for dump in dumps:
        cmd, stats = parse(dump, binary)
        if cmd.split(" ")[0].endswith("/" + binary):
            windows.append(stats)
    if len(windows) < 2:
        sys.exit(f"{len(windows)} dumps of {binary}: one window cannot tell one-off work "
                 "from the keystroke's path")
    total = collections.Counter()
    for stats in windows:
        for f, (_, ir) in stats.items():
            total[f] += ir
    path = {f for f in total if all(f in w and hot(*w[f]) for w in windows)}

    def order(f):
        if f in path:
            return (0, -total[f] / max(sizes.get(f, 64), 64), f)
        return (1, -total[f], f)

    for f in sorted(total, key=order):
        print(f)


if __name__ == "__main__":
    main()
