"""The rootless rows' kernel probes against a real kernel setting, in a throw-away user namespace.

user.max_user_namespaces counts per user namespace: set to 0 inside a namespace made for the
test, it refuses nested user namespaces there and leaves the host's value alone. That is the
"user namespaces disabled" refusal with the real sysctl taken away (the host's own is not
ours to change on a shared machine).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from docker_from_scratch.requirements import probes, table
results = {name: probes.run_probe(table.by_name(name)) for name in ("user namespaces", "unshare allowed")}
print(json.dumps({name: [result.ok, result.detail] for name, result in results.items()}))
"""


def probe_in_userns(limit: str | None) -> dict[str, list[object]]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed")
    setting = f"echo {limit} > /proc/sys/user/max_user_namespaces && " if limit is not None else ""
    script = f'{setting}exec "$0" -c "$1"'
    argv = ["unshare", "--user", "--map-root-user", "sh", "-c", script, sys.executable, PROBE]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    data: dict[str, list[object]] = json.loads(result.stdout)
    return data


def test_userns_rows_pass_in_a_plain_user_namespace() -> None:
    """In a fresh user namespace both kernel rows should pass."""
    rows = probe_in_userns(None)
    assert rows["user namespaces"][0] is True and rows["unshare allowed"][0] is True


def test_userns_rows_refuse_max_user_namespaces_zero() -> None:
    """With user.max_user_namespaces=0 the sysctl row should name it and unshare should fail with ENOSPC."""
    rows = probe_in_userns("0")
    assert rows["user namespaces"] == [False, "user.max_user_namespaces is 0"]
    assert rows["unshare allowed"] == [False, "unshare(CLONE_NEWUSER) fails with ENOSPC"]
