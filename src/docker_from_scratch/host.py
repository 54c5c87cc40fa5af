"""Host side: the `docker run` flags that start our image as a Docker-in-Docker daemon.

``--privileged`` is the documented way. Some hosts cannot honour it: docker asks for
every capability, and a host whose own bounding set lacks one (measured here: a VM
without CAP_SYS_RESOURCE) fails with "unable to apply caps". There the same effect
comes from naming the capabilities and lifting each confinement on its own.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

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


# The smallest set found by experiment on these hosts (tests/e2e/test_flags_minimal.py
# removes each flag in turn): flag -> what breaks without it. Everything else --privileged
# grants is not needed: the other capabilities beyond Docker's default set, every device
# (Docker's default rules already let runc make the standard nodes nested containers get),
# and read-write /sys (the launcher remounts it).
MINIMAL_FLAGS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("--cap-add", "SYS_ADMIN"), "every mount and namespace: the pre-flight stops (CAP_SYS_ADMIN)"),
    (("--cap-add", "NET_ADMIN"), "bridges, veth pairs, iptables: the pre-flight stops (CAP_NET_ADMIN)"),
    (("--security-opt", "seccomp=unconfined"),
     "Docker's default profile blocks keyctl: runc fails 'unable to join session keyring'; the pre-flight stops"),
    (("--security-opt", "systempaths=unconfined"),
     "/proc/sys stays read-only: dockerd fails 'failed to disable IPv6 on container's interface'; "
     "the pre-flight stops"),
)  # fmt: skip
# Only where the kernel runs AppArmor (not on these hosts, so untested here): Docker's
# docker-default profile denies mount(2).
APPARMOR_FLAGS = ("--security-opt", "apparmor=unconfined")
APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"


def apparmor_enabled(path: str = APPARMOR_ENABLED) -> bool:
    try:
        with open(path) as handle:
            return handle.read().strip() == "Y"
    except OSError:
        return False


def minimal_flags(apparmor: bool | None = None) -> tuple[str, ...]:
    """The smallest docker run flag set that starts the image (see MINIMAL_FLAGS)."""
    flags = tuple(word for pair, _ in MINIMAL_FLAGS for word in pair)
    return (*flags, *APPARMOR_FLAGS) if (apparmor_enabled() if apparmor is None else apparmor) else flags


# --- the `docker-from-scratch flags` verb ----------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--minimal", action="store_true", help="the smallest set found by experiment")
    form.add_argument("--equivalent", action="store_true", help="what --privileged grants, flag by flag")
    form.add_argument("--explain", action="store_true", help="each flag of the minimal set and what breaks without it")


def run(args: argparse.Namespace) -> int:
    import shlex

    if args.explain:
        for pair, breaks in MINIMAL_FLAGS:
            print(f"{shlex.join(pair)}\t{breaks}")
        if apparmor_enabled():
            print(f"{shlex.join(APPARMOR_FLAGS)}\tthis kernel runs AppArmor: docker-default denies mount(2)")
        return 0
    flags = minimal_flags() if args.minimal else WORKAROUND_FLAGS if args.equivalent else privileged_flags()
    print(shlex.join(flags))
    return 0
