"""The machine and the tree a bench run measured: printed with every table."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _first(path: str, prefix: str) -> str:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def _command(*argv: str) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def describe() -> dict[str, Any]:
    memory_kib = _first("/proc/meminfo", "MemTotal").split()[0] or "0"
    dirty = _command("git", "status", "--porcelain", "--untracked-files=no", "--", "src")
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory_kib) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _first("/etc/os-release", "PRETTY_NAME=").strip('"'),
        "host_engine": _command("docker", "version", "--format", "{{.Server.Version}}"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "commit": _command("git", "rev-parse", "--short", "HEAD"),
        "src_modified": bool(dirty),
    }


def one_line(machine: dict[str, Any]) -> str:
    tree = f"commit {machine['commit']}" + (" with uncommitted changes in src/" if machine["src_modified"] else "")
    return (
        f"{machine['date']}, {machine['cpu']} ({machine['cores']} cores, "
        f"load average {machine['load_average'][0]} at start), {machine['memory_gb']} GB, {machine['os']}, "
        f"kernel {machine['kernel']}, host engine {machine['host_engine']}; {tree}"
    )
