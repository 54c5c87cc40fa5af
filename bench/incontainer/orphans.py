#!/usr/bin/python3 -IS
"""A place-holder dockerd that leaves orphans behind, then counts the zombies left.

Given to the launcher as DOCKER_BINARY (``dockerlaunch /bench/orphans.py``), so it runs
where dockerd would: under docker-init, under the launcher's Python supervisor, or as
PID 1 itself with --no-reap. Standard library only (it runs with the image's Python).

Each orphan is a grandchild: a child forks it and exits at once, so the grandchild is
re-parented to the reaper (PID 1, or the launcher as a subreaper) and waits there on a
pipe. They come in waves (BENCH_WAVE at a time, so a few thousand pids are never taken
from a machine-wide pid_max of 32768): once a wave is up, the pipe closes, all of its
orphans exit at once, and the time until /proc is back to its count before the wave is
the reaper's time for that burst. Then every zombie left is counted.

Environment: BENCH_ORPHANS (total), BENCH_WAVE (per wave), BENCH_WAIT (seconds to wait
for a wave to be reaped). Prints one JSON line.
"""

import json
import os
import time


def zombies() -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] == "Z":
            count += 1
    return count


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (what it spent reaping, for PID 1)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes() -> int:
    return sum(1 for entry in os.listdir("/proc") if entry.isdigit())


def spawn_wave(count: int) -> int:
    """Start ``count`` orphans blocked on a pipe; return the pipe's write end (close: they exit)."""
    read_end, write_end = os.pipe()
    for _ in range(count):
        child = os.fork()
        if child == 0:
            if os.fork() == 0:
                os.close(write_end)
                os.read(read_end, 1)  # end of file once the place-holder closes write_end
            os._exit(0)
        os.waitpid(child, 0)
    os.close(read_end)
    return write_end


def reap_wave(count: int, wait: float) -> float | None:
    """Seconds from releasing a wave of ``count`` orphans until all are gone (None: not in ``wait``)."""
    before = processes()
    release = spawn_wave(count)
    released = time.monotonic()
    os.close(release)
    deadline = released + wait
    while processes() > before:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.001)
    return time.monotonic() - released


def main() -> None:
    total = int(os.environ.get("BENCH_ORPHANS", "10000"))
    wave = int(os.environ.get("BENCH_WAVE", "1000"))
    wait = float(os.environ.get("BENCH_WAIT", "30"))
    reaper_cpu = cpu_seconds(1)
    started = time.monotonic()
    waves = [reap_wave(min(wave, total - done), wait) for done in range(0, total, wave)]
    elapsed = time.monotonic() - started
    with open("/proc/1/comm") as handle:
        pid1 = handle.read().strip()
    print(json.dumps({
        "orphans": total,
        "wave": wave,
        "wave_reaped_s": waves,
        "elapsed_s": elapsed,
        "zombies_left": zombies(),
        "pid1": pid1,
        "pid1_cpu_s": cpu_seconds(1) - reaper_cpu,
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
