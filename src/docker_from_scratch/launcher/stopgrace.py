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
"""

from __future__ import annotations

from docker_from_scratch.launcher import api, log


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
