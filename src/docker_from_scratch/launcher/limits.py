"""RLIMIT_NOFILE for dockerd and everything it starts.

dockerd, containerd and busy containers hold many descriptors; Docker's own systemd unit
sets LimitNOFILE=infinity, which the kernel caps at fs.nr_open (1048576 by default).
The soft limit can always rise to the hard one; the hard limit only with CAP_SYS_RESOURCE
(which some hosts cannot grant, measured here: then we end at the hard limit).
"""

import os

from docker_from_scratch.launcher import log

DEFAULT_NOFILE = 1_048_576


def nr_open(root: str = "/") -> int:
    """fs.nr_open: the most any process's RLIMIT_NOFILE may be."""
    try:
        with open(os.path.join(root, "proc/sys/fs/nr_open")) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return DEFAULT_NOFILE


def raise_nofile(target: int = DEFAULT_NOFILE, root: str = "/") -> tuple[int, int]:
    """Raise soft and hard RLIMIT_NOFILE towards ``target`` (capped at fs.nr_open).

    Never lowers a limit. Returns the (soft, hard) now in effect.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(target, nr_open(root))
    if soft >= wanted:
        log.debug(f"RLIMIT_NOFILE: already {soft} (hard {hard}) >= {wanted}, skipped")
        return soft, hard
    new_hard = max(hard, wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, new_hard))
    except (OSError, ValueError) as exc:
        # EPERM: raising the hard limit needs CAP_SYS_RESOURCE; take what is allowed.
        if hard <= soft:
            log.info(f"RLIMIT_NOFILE: stays {soft}; {wanted} needs CAP_SYS_RESOURCE ({exc})")
            return soft, hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.info(f"RLIMIT_NOFILE: {hard} (the hard limit; {wanted} needs CAP_SYS_RESOURCE)")
        return hard, hard
    log.debug(f"RLIMIT_NOFILE: set to {wanted} (hard {new_hard}, was {soft}/{hard})")
    return wanted, new_hard
