"""RLIMIT_NOFILE: raised towards the target in a child process with chosen starting limits."""

import json
import resource
import subprocess
import sys
from pathlib import Path

from docker_from_scratch.launcher import limits

CAP_SYS_RESOURCE = 24


def can_raise_hard_limit() -> bool:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def raise_in_child(soft: int, hard: int, target: int, root: str = "/") -> tuple[int, int]:
    """Start Python with limits (soft, hard), call raise_nofile(target, root), return what it reports."""
    code = (
        "import json, resource; from docker_from_scratch.launcher import limits; "
        f"result = limits.raise_nofile({target}, {root!r}); "
        "print(json.dumps([result, resource.getrlimit(resource.RLIMIT_NOFILE)]))"
    )

    def start_with_limits() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    output = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=start_with_limits, capture_output=True, text=True, check=True
    ).stdout
    reported, actual = json.loads(output)
    assert reported == actual, "raise_nofile should report the limits in effect"
    return reported[0], reported[1]


def current_hard() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def test_limits_soft_rises_to_target_below_hard() -> None:
    """A target under the hard limit becomes the soft limit; the hard limit is unchanged."""
    hard = current_hard()
    target = min(hard, 4096)
    assert raise_in_child(256, hard, target) == (target, hard)


def test_limits_never_lowered() -> None:
    """A target below the current soft limit changes nothing."""
    hard = current_hard()
    soft = min(hard, 2048)
    assert raise_in_child(soft, hard, 512) == (soft, hard)


def test_limits_hard_limit_needs_cap_sys_resource() -> None:
    """Above the hard limit: raised with CAP_SYS_RESOURCE, else soft ends at the hard limit."""
    hard = min(current_hard(), 2048)
    target = hard * 2
    expected = (target, target) if can_raise_hard_limit() else (hard, hard)
    assert raise_in_child(128, hard, target) == expected


def test_limits_capped_at_nr_open(tmp_path: Path) -> None:
    """fs.nr_open (read under root) bounds the target; unreadable, the default applies."""
    (tmp_path / "proc" / "sys" / "fs").mkdir(parents=True)
    (tmp_path / "proc" / "sys" / "fs" / "nr_open").write_text("1000\n")
    assert limits.nr_open(str(tmp_path)) == 1000
    assert limits.nr_open(str(tmp_path / "nothing")) == limits.DEFAULT_NOFILE
    hard = current_hard()
    assert hard >= 1000
    assert raise_in_child(100, hard, 5000, str(tmp_path)) == (1000, hard)
