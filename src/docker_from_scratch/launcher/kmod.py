"""Kernel modules Docker needs: loaded with modprobe where the kernel has them as modules.

Only where /lib/modules/$(uname -r) exists (a bare kernel booting our image, or a host
that bind-mounts its modules in); in an ordinary container there is nothing to load from
and the host kernel decides. Built-in (modules.builtin) and already loaded (/proc/modules,
/sys/module) modules need nothing: when all are there, no process is started at all.
A module that cannot be loaded is a warning naming the feature it costs, not an error:
dockerd may not need that feature (a storage driver, legacy iptables).
"""

from __future__ import annotations

import os

from docker_from_scratch.launcher import files, log, run
from docker_from_scratch.launcher.errors import LaunchError
from docker_from_scratch.requirements.modules import MODULES, normalize, present_modules
from docker_from_scratch.requirements.paths import find_program, under
from docker_from_scratch.requirements.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

class ModuleStatus(Record):
    """What happened to one module: "built in", "loaded" (before), "loaded now", "missing"
    (modprobe); "loaded by the trigger", "still missing", "no trigger" (launcher/autoload.py)."""

    __slots__ = ("name", "feature", "state", "detail")

    def __init__(self, name: str, feature: str, state: str, detail: str = "") -> None:
        self.name = name
        self.feature = feature
        self.state = state
        self.detail = detail


def load_modules(
    root: str = "/",
    modules: Sequence[tuple[str, str]] = MODULES,
    *,
    release: str | None = None,
    search_path: str | None = None,
) -> list[ModuleStatus]:
    """modprobe each module of ``modules`` that is neither built in nor loaded.

    Returns one status per module ([] when the kernel has no /lib/modules tree here).
    """
    release = release or os.uname().release
    directory = under(root, f"/lib/modules/{release}")
    if not os.path.isdir(directory):
        log.debug(f"{directory}: missing, no modules to load (the kernel's built-ins decide)")
        return []
    builtin, loaded = present_modules(root, release)
    statuses: list[ModuleStatus] = []
    missing: list[tuple[str, str]] = []
    for name, feature in modules:
        if normalize(name) in builtin:
            statuses.append(ModuleStatus(name, feature, "built in"))
        elif normalize(name) in loaded:
            statuses.append(ModuleStatus(name, feature, "loaded"))
        else:
            missing.append((name, feature))
    if not missing:
        log.debug(f"kernel modules: all {len(modules)} built in or loaded, skipped")
        return statuses
    search = search_path if search_path is not None else os.environ.get("PATH", "")
    modprobe = find_program("modprobe", files.extend_path(search))
    for name, feature in missing:
        statuses.append(_modprobe(modprobe, name, feature, root, release))
    return statuses


def _modprobe(modprobe: str | None, name: str, feature: str, root: str, release: str) -> ModuleStatus:
    if modprobe is None:
        log.warn(f"kernel module {name} is not loaded and there is no modprobe: {feature} may not work")
        return ModuleStatus(name, feature, "missing", "no modprobe")
    # -d/-S only where they differ from the defaults: busybox's modprobe knows neither.

    argv = [modprobe, *(["-d", root] if root != "/" else [])]
    argv += [*(["-S", release] if release != os.uname().release else []), name]
    try:
        result = run.run(argv, check=False)
    except LaunchError as exc:
        log.warn(f"kernel module {name}: {exc.message}: {feature} may not work")
        return ModuleStatus(name, feature, "missing", exc.message)
    if result.returncode == 0:
        log.debug(f"kernel module {name}: loaded")
        return ModuleStatus(name, feature, "loaded now")
    detail = result.last_words()
    log.warn(f"kernel module {name} could not be loaded ({detail}): {feature} may not work")
    return ModuleStatus(name, feature, "missing", detail)
