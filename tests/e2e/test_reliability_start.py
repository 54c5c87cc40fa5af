"""Non-privileged start: our image without the privileges Docker-in-Docker needs must fail
at once with the launcher's one line naming --privileged, never hang."""

import time

from tests.testing.engine import docker


def test_unprivileged_start_fails_naming_privileged(image: str) -> None:
    """`docker run IMAGE` without flags should exit non-zero with one line naming --privileged, in well under 20 s."""
    start = time.monotonic()
    result = docker("run", "--rm", image, check=False, timeout=60)
    took = time.monotonic() - start
    print(f"unprivileged start refused after {took:.2f} s (docker run included)")
    assert result.returncode != 0, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("dockerlaunch: error:")]
    assert len(errors) == 1 and "--privileged" in errors[0], result.stderr
    assert "(hint: " in errors[0], result.stderr
    assert took < 20, f"a refusal should not wait for anything: took {took:.1f} s"
