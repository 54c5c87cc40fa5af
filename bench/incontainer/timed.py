"""Run a command N times and print each run's wall time in ms as one JSON list.

``python3 timed.py N COMMAND [ARGS...]``; standard library only, so the same script times
``docker run`` inside our image (with its Python) and on the host. A failed run stops
the script with the command's status and its last error line.
"""

import json
import subprocess
import sys
import time


def main() -> int:
    count, command = int(sys.argv[1]), sys.argv[2:]
    times = []
    for _ in range(count):
        started = time.monotonic()
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        times.append((time.monotonic() - started) * 1000)
        if result.returncode != 0:
            print((result.stderr.strip().splitlines() or ["no error output"])[-1], file=sys.stderr)
            return result.returncode
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
