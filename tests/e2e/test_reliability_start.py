"""Non-privileged start: our image without the privileges Docker-in-Docker needs must fail
at once with the launcher's one line naming --privileged, never hang."""

from tests.testing.engine import docker, unique
from tests.testing.reliability import ran_s


def test_unprivileged_start_fails_naming_privileged(image: str) -> None:
    """`docker run IMAGE` without flags should exit non-zero with one line naming --privileged, in well under 20 s."""
    name = unique("dfs-test-unprivileged")
    try:
        result = docker("run", "--name", name, image, check=False, timeout=60)
        took = ran_s(name)  # the container's own time, not the docker CLI's on a busy machine
    finally:
        docker("rm", "-f", "-v", name, check=False)
    print(f"unprivileged start refused after {took:.2f} s")
    assert result.returncode != 0, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("dockerlaunch: error:")]
    assert len(errors) == 1 and "--privileged" in errors[0], result.stderr
    assert "(hint: " in errors[0], result.stderr
    assert took < 20, f"a refusal should not wait for anything: took {took:.1f} s"
