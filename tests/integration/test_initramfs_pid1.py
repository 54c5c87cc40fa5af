"""PID 1's bare-kernel steps that run outside a VM: lo and hostname in fresh namespaces."""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration


def run_in_namespaces(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` under ``unshare FLAGS`` (a throw-away network/UTS namespace)."""
    return subprocess.run(["unshare", *flags, sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_loopback_comes_up_with_its_addresses() -> None:
    """In a fresh network namespace lo is down; afterwards it should be UP with 127.0.0.1."""
    result = run_in_namespaces("""
        import socket, subprocess
        from docker_from_scratch.launcher import baremetal
        def flags():
            line = subprocess.run(["ip", "-o", "link", "show", "lo"], capture_output=True, text=True).stdout
            return line.split("<", 1)[1].split(">", 1)[0]
        before = flags()
        baremetal.bring_up_loopback()
        baremetal.bring_up_loopback()  # a second call finds it up and changes nothing
        after = flags()
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            socket.create_connection(server.getsockname(), timeout=5).close()
        print(before, after)
    """, "--net")  # fmt: skip
    assert result.returncode == 0, result.stderr
    before, after = (set(flags.split(",")) for flags in result.stdout.split())
    assert "UP" not in before and "UP" in after


def test_hostname_is_set_in_the_uts_namespace() -> None:
    """set_hostname should change the name that uname reports."""
    result = run_in_namespaces("""
        import os
        from docker_from_scratch.launcher import baremetal
        baremetal.set_hostname("bare-test")
        print(os.uname().nodename)
    """, "--uts")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "bare-test"


def test_wait_for_exec_names_the_program_the_launcher_execs() -> None:
    """PID 1's runner should see a child of the same interpreter exec another program, and name it."""
    from docker_from_scratch.launcher import baremetal

    sleep = subprocess.run(["sh", "-c", "command -v sleep"], capture_output=True, text=True, check=True).stdout.strip()
    code = f"import os, time; time.sleep(0.3); os.execv({sleep!r}, ['sleep', '2'])"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        assert baremetal.wait_for_exec(child.pid) == os.path.realpath(sleep)
    finally:
        child.kill()
        child.wait()


def test_wait_for_exec_gives_none_when_the_launcher_ends_first() -> None:
    """A launcher that exits (and is reaped) without an exec should end the wait with None."""
    from docker_from_scratch.launcher import baremetal

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    child.wait()
    assert baremetal.wait_for_exec(child.pid) is None
