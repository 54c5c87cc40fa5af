"""Run a command N times and print each run's wall time in ms as one JSON list.

``python3 timed.py N COMMAND [ARGS...]``; the standard library and the launcher's own
subprocess door (``launcher.run``: the image's Python has no ``subprocess`` module), so the
same script times ``docker run`` inside our image and on the host. A failed run stops the
script with the command's status and its last error line.
"""

import json
import sys
import time

from docker_from_scratch.launcher import run


def main() -> int:
    count, command = int(sys.argv[1]), sys.argv[2:]
    times = []
    for _ in range(count):
        started = time.monotonic()
        result = run.run(command, check=False, timeout=None)
        times.append((time.monotonic() - started) * 1000)
        if result.returncode != 0:
            print((result.stderr.strip().splitlines() or ["no error output"])[-1], file=sys.stderr)
            return result.returncode
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
