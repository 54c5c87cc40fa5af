"""Kernel modules without /lib/modules: ask the host kernel to load them itself.

modprobe (launcher/kmod.py) needs /lib/modules/$(uname -r) with its modules.dep; an
ordinary container has neither unless the user mounts the host's. The kernel can still
load a module on its own, through its usermode helper (/proc/sys/kernel/modprobe, which
runs in the host's root, not ours): looking up a network interface by a name that does
not exist makes it request the module of that exact name when the caller holds
CAP_SYS_MODULE (net/core/dev_ioctl.c, dev_load). This is what docker:dind's
`ip link show MOD` relies on. Interface names stop at 15 characters (IFNAMSIZ - 1): a
longer module name has no such trigger.

Each trigger is followed by a fresh read of the module's state, and the outcome is
logged per module: what the trigger loaded, what is still missing (with the fix).
"""

from __future__ import annotations

import os

from docker_from_scratch.launcher import log
from docker_from_scratch.launcher.errors import UsageError
from docker_from_scratch.launcher.kmod import ModuleStatus
from docker_from_scratch.requirements.modules import MODULES, kernel_release, loaded_modules, module_state
from docker_from_scratch.requirements.paths import under

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# The longest interface name the kernel accepts (IFNAMSIZ 16, with the NUL).
TRIGGER_NAME_MAX = 15

# Where a module already stands when nothing needs to be asked.
PRESENT = ("loaded", "built in")

# The module step: "auto" (modprobe, then these triggers), "modprobe" (no triggers),
# "off" (neither: the kernel or the host decides alone).
ENV = "DOCKER_LAUNCH_MODULES"
MODES = ("auto", "modprobe", "off")

FIX = "mount the host's modules (-v /lib/modules:/lib/modules:ro) or load them on the host (modprobe {})"


def mode(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The module step's setting from DOCKER_LAUNCH_MODULES (auto when unset)."""
    value = (os.environ if environ is None else environ).get(ENV, "").strip().lower() or "auto"
    if value not in MODES:
        raise UsageError(f"{ENV} {value!r} is not a module setting", hint="use auto, modprobe or off")
    return value


def modprobe_can_work(root: str = "/", release: str | None = None) -> bool:
    """modprobe has a module index to read: /lib/modules/<release>/modules.dep."""
    release = release or kernel_release(root)
    return os.path.isfile(under(root, f"/lib/modules/{release}/modules.dep"))


def ask_kernel(name: str) -> None:
    """The trigger: look up an interface called ``name``. It does not exist (ENODEV);
    on the way the kernel runs its modprobe helper for a module of that name, and waits
    for it."""
    import _socket  # the C module under socket, which imports enum and selectors

    try:  # noqa: SIM105 (contextlib costs ~6 ms at every start: launcher/undo.py)
        _socket.if_nametoindex(name)
    except OSError:
        pass  # ENODEV is the expected answer (no such interface); the module is what counts


def autoload(
    root: str = "/",
    modules: Sequence[tuple[str, str]] = MODULES,
    *,
    release: str | None = None,
    trigger: Callable[[str], None] = ask_kernel,
    setting: str = "auto",
) -> list[ModuleStatus]:
    """Trigger the kernel's own loading for each of ``modules`` that is neither built in
    nor loaded, when modprobe cannot work here. Returns one outcome per module asked
    about ([] when modprobe can work, nothing is missing, or ``setting`` is not auto)."""
    if modprobe_can_work(root, release):
        return []  # kmod.load_modules had the index: it did the job, or said why not
    if loaded_modules(root) is None:
        # No /proc/modules: a kernel without loadable modules (CONFIG_MODULES unset) has
        # nothing to load, and its built-ins without parameters show up nowhere to ask.
        log.debug("kernel modules: the kernel has no loadable modules, nothing to trigger")
        return []
    missing = [(name, feature) for name, feature in modules if module_state(name, root).state not in PRESENT]
    if not missing:
        return []
    if setting != "auto":
        log.info(f"kernel modules: {ENV}={setting}, not asking the kernel for {' '.join(n for n, _ in missing)}")
        return []
    outcomes = [_ask(name, feature, root, trigger) for name, feature in missing]
    loaded = [o.name for o in outcomes if o.state == "loaded by the trigger"]
    still = [o.name for o in outcomes if o.state != "loaded by the trigger"]
    if loaded:
        log.info(f"kernel modules loaded by the kernel's autoload trigger: {' '.join(loaded)}")
    if still:
        log.warn(f"kernel modules still missing: {' '.join(still)} (hint: {FIX.format(' '.join(still))})")
    return outcomes


def _ask(name: str, feature: str, root: str, trigger: Callable[[str], None]) -> ModuleStatus:
    if len(name) > TRIGGER_NAME_MAX:
        log.debug(f"kernel module {name}: no trigger (over {TRIGGER_NAME_MAX} characters): {feature} may not work")
        return ModuleStatus(name, feature, "no trigger", f"name over {TRIGGER_NAME_MAX} characters")
    trigger(name)
    state = module_state(name, root)
    if state.state in PRESENT:
        log.debug(f"kernel module {name}: loaded by the trigger ({state.evidence})")
        return ModuleStatus(name, feature, "loaded by the trigger", state.evidence)
    log.debug(f"kernel module {name}: still missing after the trigger ({state.evidence}): {feature} may not work")
    return ModuleStatus(name, feature, "still missing", state.evidence)
