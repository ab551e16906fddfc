#!/usr/bin/env python3
"""Keystroke echo latency through an interactive client.

Runs CLIENT... under a fresh local PTY (as a person's terminal would), waits until the remote
`cat` answers, then sends one byte at a time and times until that byte comes back. Prints
`p50_ms p99_ms n` on stdout. The remote side must echo each byte exactly once (run
`stty raw -echo; cat` there). `--on`, `--mid` and `--off` run a shell command just before
the first timed keystroke, halfway, and just after the last (to profile or trace exactly
those windows).

    echo_latency.py [--samples N] [--on CMD] [--mid CMD] [--off CMD] -- CLIENT ARGS...
"""
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time


def read_until(fd, want, timeout):
    deadline = time.monotonic() + timeout
    got = b""
    while want not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no echo of {want!r} within {timeout}s (got {got[-80:]!r})")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError(f"client exited (last output {got[-200:]!r})")
            got += chunk
    return got


def main():
    args = sys.argv[1:]
    samples = 300
    hooks = {}
    while args[:1] in (["--samples"], ["--on"], ["--mid"], ["--off"]):
        if args[0] == "--samples":
            samples = int(args[1])
        else:
            hooks[args[0]] = args[1]
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    pid, fd = pty.fork()
    if pid == 0:
        # No local echo before the client takes the terminal: the line discipline would answer
        # the probe below itself while a slow client (under valgrind) is still starting.
        attrs = termios.tcgetattr(0)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(0, termios.TCSANOW, attrs)
        os.execvp(args[0], args)
    try:
        # Until the remote cat runs, bytes may be eaten by the shell starting; probe until one
        # marker comes back, then drain.
        # Two minutes: a client under valgrind takes tens of seconds to start.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            os.write(fd, b"#")
            try:
                read_until(fd, b"#", 0.3)
                break
            except TimeoutError:
                continue
        else:
            raise SystemExit("remote cat never echoed")
        time.sleep(0.3)
        while select.select([fd], [], [], 0.05)[0]:
            os.read(fd, 4096)
        times = []
        alphabet = b"abcdefghijklmnopqrstuvwxyz"
        if "--on" in hooks:
            subprocess.run(hooks["--on"], shell=True, check=True)
        for i in range(samples):
            if i == samples // 2 and "--mid" in hooks:
                subprocess.run(hooks["--mid"], shell=True, check=True)
            b = alphabet[i % len(alphabet) : i % len(alphabet) + 1]
            t0 = time.perf_counter()
            os.write(fd, b)
            read_until(fd, b, 5.0)
            times.append((time.perf_counter() - t0) * 1000.0)
            time.sleep(0.01)  # a fast typist, not a flood
        if "--off" in hooks:
            subprocess.run(hooks["--off"], shell=True, check=True)
        times.sort()
        p50 = times[len(times) // 2]
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"{p50:.3f} {p99:.3f} {len(times)}")
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


if __name__ == "__main__":
    main()
