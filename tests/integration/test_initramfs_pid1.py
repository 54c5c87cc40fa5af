"""PID 1's bare-kernel steps that run outside a VM: lo and hostname in fresh namespaces."""

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
