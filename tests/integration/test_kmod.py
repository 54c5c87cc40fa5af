"""modprobe for real: a module neither built in nor loaded is asked for and, missing, warned about."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_from_scratch.launcher import kmod, log

pytestmark = pytest.mark.integration

RELEASE = "6.1.0-dfs-test"


@pytest.fixture
def debug_log() -> Iterator[None]:
    log.set_debug(True)
    yield None
    log.set_debug(False)


@pytest.mark.skipif(shutil.which("modprobe", path="/usr/sbin:/sbin") is None, reason="kmod's modprobe is not installed")
def test_kmod_missing_module_warns_with_its_feature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], debug_log: None
) -> None:
    """modprobe runs for the one unknown module only, fails, and the warning names the feature it costs."""
    modules = tmp_path / "lib" / "modules" / RELEASE
    modules.mkdir(parents=True)
    (modules / "modules.builtin").write_text("kernel/fs/overlayfs/overlay.ko\n")
    wanted = [("overlay", "the overlay2 storage driver"), ("dfs_no_such_module", "the test's imaginary feature")]
    statuses = kmod.load_modules(os.fspath(tmp_path), wanted, release=RELEASE)
    states = {status.name: status.state for status in statuses}
    assert states == {"overlay": "built in", "dfs_no_such_module": "missing"}
    err = capsys.readouterr().err
    assert "the test's imaginary feature" in err and "warning" in err
    runs = [line for line in err.splitlines() if "run:" in line]
    assert len(runs) == 1 and runs[0].endswith("dfs_no_such_module")
