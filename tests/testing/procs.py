"""Process-table helpers read from /proc (dumb-init's testing/ style)."""

import os
import time
from collections.abc import Callable, Iterator


def process_stats() -> Iterator[tuple[int, str, str, int]]:
    """(pid, comm, state, parent pid) of every process /proc shows, skipping ones that vanish."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        yield int(entry), comm, fields[0], int(fields[1])


def zombies_of(parent: int) -> list[int]:
    """Pids in state Z whose parent is ``parent``."""
    return [pid for pid, _, state, ppid in process_stats() if state == "Z" and ppid == parent]


def children_of(parent: int) -> list[int]:
    try:
        with open(f"/proc/{parent}/task/{parent}/children") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        return []


def sleep_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
