#!/usr/bin/env python3
"""A place-holder dockerd for launcher tests: reports what it receives, spawns orphans.

Environment:
    PLACEHOLDER_ORPHANS=N   double-fork N grandchildren that exit at once (orphans to reap)
    PLACEHOLDER_EXIT=N      exit status after a signal (default 0)
    PLACEHOLDER_SELF_KILL=SIG  kill itself with that signal right after start
Prints "ready <pid> <args>" once started, then "got <SIGNAME>" for each signal it gets.
"""

import os
import signal
import sys
import time


def spawn_orphans(count: int) -> None:
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            if os.fork() == 0:
                time.sleep(0.5)  # outlive the middle process, so the reaper inherits us
                os._exit(0)
            os._exit(0)
        os.waitpid(pid, 0)


def main() -> None:
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        print(f"got {signal.Signals(signum).name}", flush=True)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, handler)
    print(f"ready {os.getpid()} {' '.join(sys.argv[1:])}", flush=True)
    spawn_orphans(int(os.environ.get("PLACEHOLDER_ORPHANS", "0")))
    print("orphans spawned", flush=True)
    if os.environ.get("PLACEHOLDER_SELF_KILL"):
        os.kill(os.getpid(), getattr(signal, os.environ["PLACEHOLDER_SELF_KILL"]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if any(s in received for s in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)):
            sys.exit(int(os.environ.get("PLACEHOLDER_EXIT", "0")))
    sys.exit(99)


if __name__ == "__main__":
    main()
