"""Stop grace: fit a `docker stop` of the DinD container into the caller's timeout.

On SIGTERM dockerd stops every nested container with that container's own stop timeout
(10 s unless set), then exits. A nested process that ignores SIGTERM (any shell or sleep
as PID 1) therefore takes 10 s, and docker's default 10 s for the DinD container itself
runs out first: the DinD container is SIGKILLed, which is a crash (measured here: 11.4 s,
exit 137). dockerd has no daemon-wide stop timeout, and `--shutdown-timeout` cannot shorten
a container's own one.

With a stop grace of N seconds the launcher stays resident instead of handing PID 1 to
docker-init, and on SIGTERM or SIGINT it first asks dockerd to stop every running nested
container with ``t=N``, all at once, then forwards the signal. The price is memory: a
resident CPython (about 12 MB) instead of docker-init (about 0.7 MB), so it is opt-in.

`dockerlaunch --stop-nested [S]` does the same stop from outside, as a Kubernetes preStop
hook: the kubelet runs it in the container before it sends SIGTERM, and waits for it.
"""

from __future__ import annotations

from docker_from_scratch.launcher import api, log
from docker_from_scratch.launcher.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# The hook's timeout per nested container when none is given: docker stop's own default.
DEFAULT_PRE_STOP_GRACE = 10


def stop_nested_containers(socket_path: str, grace: int) -> int:
    """Stop every running nested container with timeout ``grace``, in parallel.

    Returns how many were asked to stop. Never raises: a dockerd that does not answer
    still gets the forwarded signal afterwards.
    """
    import threading

    try:
        ids = api.running_containers(socket_path, timeout=2.0)
    except (OSError, ValueError) as exc:
        log.warn(f"stop grace: cannot list nested containers ({exc}); forwarding the signal only")
        return 0
    log.info(f"stop grace: stopping {len(ids)} nested container(s) with a {grace} s timeout")

    def stop(container: str) -> None:
        try:
            api.request("POST", f"/containers/{container}/stop?t={grace}", socket_path=socket_path, timeout=grace + 5)
        except OSError as exc:
            log.debug(f"stop grace: {container[:12]}: {exc}")

    threads = [threading.Thread(target=stop, args=(container,), daemon=True) for container in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=grace + 5)
    return len(ids)


def pre_stop_grace(argv: Sequence[str]) -> int:
    """The seconds of `--stop-nested [S]`; a UsageError for anything but one whole number."""
    if not argv:
        return DEFAULT_PRE_STOP_GRACE
    if len(argv) == 1 and argv[0].isdigit():
        return int(argv[0])
    raise UsageError(
        f"--stop-nested takes one number of seconds, not {' '.join(argv)!r}",
        hint="use dockerlaunch --stop-nested 20",
    )


def pre_stop(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """`dockerlaunch --stop-nested [S]`: stop the nested containers, return once they stopped.

    dockerd's stop call returns when the container has exited, so this returns when all
    have (each within S seconds, then SIGKILL). A dockerd that does not answer has nothing
    to stop: 0 as well, so the hook never holds up the pod's termination.
    """
    from docker_from_scratch.launcher import dind

    grace = pre_stop_grace(argv)
    socket_path = dind.unix_socket(env)
    stopped = stop_nested_containers(socket_path, grace)
    try:
        left = len(api.running_containers(socket_path, timeout=2.0)) if stopped else 0
    except (OSError, ValueError):
        left = 0
    if left:
        log.warn(f"stop grace: {left} nested container(s) still running")
    return 0
