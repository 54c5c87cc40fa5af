"""Host side: the `docker run` flags that start our image as a Docker-in-Docker daemon.

``--privileged`` is the documented way. Some hosts cannot honour it: docker asks for
every capability, and a host whose own bounding set lacks one (measured here: a VM
without CAP_SYS_RESOURCE) fails with "unable to apply caps". There the same effect
comes from naming the capabilities and lifting each confinement on its own.
"""

CAP_SYS_RESOURCE = 24

WORKAROUND_FLAGS: tuple[str, ...] = (
    "--cap-add", "ALL",
    "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule", "a *:* rwm",
)  # fmt: skip


def bounding_set(status_path: str = "/proc/self/status") -> int:
    """The capability bounding set of this process (CapBnd), as a bit mask."""
    with open(status_path) as status:
        for line in status:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    raise RuntimeError(f"no CapBnd line in {status_path}")


def privileged_flags(status_path: str = "/proc/self/status") -> tuple[str, ...]:
    """``--privileged`` where the host can grant it, else the equivalent flag set."""
    if bounding_set(status_path) >> CAP_SYS_RESOURCE & 1:
        return ("--privileged",)
    return WORKAROUND_FLAGS
