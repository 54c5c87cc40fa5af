"""Run launcher steps for real inside throw-away namespaces, on a tmpfs root.

``run_in_namespace(function, *args)`` starts this file under
``unshare --mount --pid --fork --propagation private`` (optionally ``--net`` and
``--cgroup``). The child mounts a fresh tmpfs on a new directory, imports ``function``
by module and name, calls ``function(root, *args)`` and prints its JSON result. Every
mount the step makes dies with the namespace; the host's table is never touched.

Functions run in the child must be module-level (they are imported there, not pickled)
and return JSON-serialisable values. ``mount_table(root)`` is what they usually return.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_MARKER = "@@namespace-result@@ "


@dataclass
class NamespaceRun:
    """What the function returned (``value``) or raised (``error``), and its stderr."""

    value: Any
    error: str | None
    log: str


def run_in_namespace(
    function: Callable[..., Any],
    *args: Any,
    net: bool = False,
    cgroup: str | None = None,
    debug: bool = True,
    timeout: float = 120,
) -> NamespaceRun:
    """Call ``function(root, *args)`` in fresh mount and PID namespaces on a tmpfs root.

    ``net``: also a fresh network namespace (its own sysfs and iptables tables).
    ``cgroup``: a cgroup v2 directory the child (PID 1 inside) joins before unsharing a
    cgroup namespace, so a cgroup2 mount inside shows that directory as its root.
    """
    if shutil.which("unshare") is None:
        raise AssertionError("unshare (util-linux) is needed for the namespace tests")
    root = tempfile.mkdtemp(prefix="dfs-ns-")
    spec = {
        "module": function.__module__, "name": function.__qualname__, "root": root,
        "args": list(args), "cgroup": cgroup,
    }  # fmt: skip
    argv = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private"]
    if net:
        argv.append("--net")
    argv += ["--", sys.executable, os.fspath(Path(__file__).resolve()), json.dumps(spec)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("DOCKER_LAUNCH_")}
    if debug:
        env["DOCKER_LAUNCH_DEBUG"] = "true"

    try:
        result = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout, check=False,
            cwd=REPO,
        )  # fmt: skip
    finally:
        os.rmdir(root)  # the tmpfs on it went with the namespace
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(_MARKER):
            payload = json.loads(line[len(_MARKER) :])
            return NamespaceRun(payload.get("value"), payload.get("error"), result.stderr)
    raise AssertionError(
        f"namespace child exited {result.returncode} without a result\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )


def mount_table(root: str, *, visible_only: bool = False) -> list[dict[str, Any]]:
    """The mounts at and below ``root`` (hidden ones too unless ``visible_only``).

    Each entry: id, mount point relative to root, fs type, source, root, ro, options,
    super options, shared, visible. Runs inside the namespace.
    """
    from docker_from_scratch.requirements import mountinfo

    everything = mountinfo.read()
    shown = {entry.mount_id for entry in mountinfo.visible(everything)}
    table = []
    for entry in everything:
        if entry.mount_point != root and not entry.mount_point.startswith(root + "/"):
            continue
        if visible_only and entry.mount_id not in shown:
            continue
        table.append(
            {
                "id": entry.mount_id,
                "path": "/" + os.path.relpath(entry.mount_point, root).removeprefix("."),
                "fs_type": entry.fs_type,
                "source": entry.source,
                "root": entry.root,
                "ro": entry.read_only,
                "options": list(entry.options),
                "super_options": list(entry.super_options),
                "shared": entry.shared,
                "visible": entry.mount_id in shown,
            }
        )
    return table


def paths(table: Sequence[dict[str, Any]], *, fs_type: str | None = None) -> list[str]:
    """The relative mount points of a ``mount_table`` (of one fs type), visible ones only."""
    return [m["path"] for m in table if m["visible"] and (fs_type is None or m["fs_type"] == fs_type)]


CLONE_NEWCGROUP = 0x02000000


def _unshare(flags: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare: {os.strerror(error)}")


def _child(spec: dict[str, Any]) -> None:
    """Inside the namespaces: tmpfs root, then the function; result as one marked line."""
    sys.path.insert(0, os.fspath(REPO))
    from docker_from_scratch.launcher import syscalls
    from docker_from_scratch.launcher.errors import LaunchError

    root = spec["root"]
    if spec["cgroup"] is not None:
        # Join first, then unshare: the namespace's root cgroup is the one we are in, and
        # we (PID 1 here) are its only process; `unshare` itself stays outside.
        with open(os.path.join(spec["cgroup"], "cgroup.procs"), "w") as procs:
            procs.write("0")  # "0": the writing process
        _unshare(CLONE_NEWCGROUP)
    syscalls.mount("tmpfs", root, "tmpfs", 0, "mode=0755")
    value: Any = None
    error: str | None = None
    try:
        function: Any = importlib.import_module(spec["module"])
        for part in spec["name"].split("."):
            function = getattr(function, part)
        value = function(root, *spec["args"])
    except LaunchError as exc:
        error = f"LaunchError: {exc.one_line()}"
        traceback.print_exc()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    sys.stdout.write(_MARKER + json.dumps({"value": value, "error": error}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
