"""Pre-flight: the requirement table's probes, before the launcher changes anything.

Hard rows that the launcher cannot repair stop it with the row's fix as the hint (for
example "CAP_SYS_ADMIN ... (hint: run the container with --privileged)"); soft rows
become one warning each, saying what is lost. The probes are the same ones
`docker-from-scratch check` runs, so the two never disagree.
"""

from __future__ import annotations

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import LaunchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from docker_from_scratch.launcher.args import LaunchOptions


def check_requirements(options: LaunchOptions, root: str = "/") -> None:
    """Raise LaunchError for the first missing hard row; warn for each missing soft row."""
    from docker_from_scratch.requirements import probes

    hard, soft = probes.preflight(root=root, data_root=options.data_root)
    # What the arguments already gave up is not lost: no warning for it.
    moot = {"iptables"} if not options.iptables else set()
    if options.tls_certdir is None:
        moot.add("openssl")
    for finding in soft:
        if finding.name in moot:
            log.debug(f"{finding.name}: not needed with these arguments")
            continue
        log.warn(finding.warning)
    if hard:
        first = hard[0]
        others = f" (and {len(hard) - 1} more: {', '.join(f.name for f in hard[1:])})" if len(hard) > 1 else ""
        raise LaunchError(first.message + others, hint=first.hint)
    log.debug("pre-flight: every hard requirement is met")
