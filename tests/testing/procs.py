"""Process-table helpers read from /proc (dumb-init's testing/ style)."""

import os
import time
from collections.abc import Callable


def zombies_of(parent: int) -> list[int]:
    """Pids in state Z whose parent is ``parent``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z" and int(fields[1]) == parent:
            found.append(int(entry))
    return found


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
