#!/usr/bin/env python3
"""The functions of one binary that ran in callgrind dumps, those on every keystroke's path first.

    callgrind_hot.py BINARY_PATH KEYSTROKES DUMP...

Reads callgrind's format (name compression, `calls=` lines), keeps the dumps whose command
is BINARY_NAME, and prints the mangled names of that binary's own functions that ran, for
lld's --symbol-ordering-file. A function called at least once per two keystrokes is on the
echo's path, and so is one called at most once in the window that still ran 20 instructions
per keystroke: a loop entered before the window (a runtime's `block_on`, a link's read loop)
or code reached by tail jumps, which callgrind does not count as calls. Those come first, the
rest (timers, housekeeping that happened to run) after. The first group is ordered by
instructions run per byte of the function (`nm -S` of BINARY_PATH), densest first, so a large
function with one hot loop (an async state machine holding a whole command) ends the group
instead of pushing the small hot ones apart; the rest by instructions, most first.
"""
import collections
import os
import re
import subprocess
import sys


def parse(path, binary):
    """(command line, {function: [calls, instructions]}) of one dump."""
    names = {"ob": {}, "fn": {}}

    def name(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?", rest)
        if not m:
            return rest
        if m.group(2):
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), "?")

    ours = lambda ob: (ob or "").endswith("/" + binary)  # noqa: E731
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
    path, keys, dumps = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    binary = os.path.basename(path)
    sizes = {}
    for row in subprocess.run(["nm", "-S", path], capture_output=True, text=True).stdout.splitlines():
        cols = row.split()
        if len(cols) == 4:
            sizes[cols[3]] = int(cols[1], 16)
    total = collections.defaultdict(lambda: [0, 0])
    for path in dumps:
        cmd, stats = parse(path, binary)
        if cmd.split(" ")[0].endswith("/" + binary):
            for f, (calls, ir) in stats.items():
                total[f][0] += calls
                total[f][1] += ir
    def hot(calls, ir):
        return calls * 2 >= keys or (calls <= 1 and ir >= keys * 20)

    def order(item):
        f, (calls, ir) = item
        if hot(calls, ir):
            return (0, -ir / max(sizes.get(f, 64), 64), f)
        return (1, -ir, f)

    for f, _ in sorted(total.items(), key=order):
        print(f)


if __name__ == "__main__":
    main()
