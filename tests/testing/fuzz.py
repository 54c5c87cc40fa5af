"""Hypothesis strategies for the launcher's argv and environment, and the refusal contract.

Inputs are built from the words the launcher knows (its options, dockerd's options it
reads, docker:dind's variables) mixed with arbitrary text, so most examples reach deep
into parsing instead of failing on the first word. Two limits keep a fuzzed run harmless
on a shared machine: the first dockerd word is always an option (a plain word would name a
program to run, docker:dind's convention), and paths are relative to the test's own
directory (the namespace shares the host's file system).
"""

from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st

from tests.testing.reliability import Outcome

# Anything an environment or argv can hold: no NUL, no lone surrogates.
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
NUMBERS = st.integers(min_value=-5, max_value=5_000_000).map(str)
VALUES = st.one_of(
    TEXT, NUMBERS,
    st.sampled_from(["", "off", "OFF", "true", "false", "maybe", "1", "0", "1024", "3601", "1.5", "-1",
                     "192.0.2.1/24", "192.0.2.0/24", "300.1.1.1/24", "2001:db8::1/64", "br0", "none",
                     "overlay", "overlay2", "aufs", "vfs", "dir/file", "dir", ".", "..", "=", "--", "-"]),
)  # fmt: skip
LAUNCHER_FLAGS = ["--debug", "--reap", "--no-reap", "--help", "--debug=", "--reap=", "--no-reap=x"]
LAUNCHER_VALUED = ["--log-file", "--nofile", "--stop-grace", "--stop-timeout"]
DOCKERD_FLAGS = ["--debug", "--iptables=false", "--iptables", "--tls=false", "--", "-D"]
DOCKERD_VALUED = ["--bip", "-b", "--bridge", "--mtu", "-s", "--storage-driver", "-g", "--graph", "--data-root",
                  "--config-file", "-H", "--host", "--iptables", "--default-address-pool"]  # fmt: skip
BINARIES = ["{placeholder}", "dockerd", "docker", "/nonexistent/dockerd", "dfs-no-such-dockerd"]
ENV_NAMES = [
    "DOCKER_LAUNCH_DEBUG", "DOCKER_LAUNCH_REAP", "DOCKER_LAUNCH_NOFILE", "DOCKER_LAUNCH_LOG_FILE",
    "DOCKER_LAUNCH_STOP_GRACE", "DOCKER_LAUNCH_STOP_TIMEOUT", "DOCKER_TLS_CERTDIR", "DOCKER_TLS_SAN",
    "DOCKER_HOST", "DOCKER_IPTABLES_LEGACY",
]  # fmt: skip
ENV_VALUES = st.one_of(
    VALUES,
    st.sampled_from(["unix://", "unix:///dfs-fuzz.sock", "unix://dfs.sock", "tcp://192.0.2.1:2375", "fd://",
                     "DNS:x", "IP:300.1.1.1", "IP:192.0.2.1,DNS:a", "DNS:", "certs", "./certs"]),
)  # fmt: skip


# A good value per option, drawn as often as an arbitrary one: inputs then get past one
# option and fail (or not) on the next, instead of all failing on the first value.
GOOD = {
    "--nofile": ["1048576", "4096"], "--stop-grace": ["3", "off"], "--stop-timeout": ["30", "10"],
    "--log-file": ["dockerd.log"], "--bip": ["192.0.2.1/24"], "-b": ["br0", "none"], "--bridge": ["br0"],
    "--mtu": ["1500", "1400"], "-s": ["overlay2", "overlay", "vfs"], "--storage-driver": ["overlay2", "vfs"],
    "-g": ["data"], "--graph": ["data"], "--data-root": ["data"], "--config-file": ["daemon.json"],
    "-H": ["unix:///run/dfs-fuzz.sock"], "--host": ["tcp://127.0.0.1:2375"], "--iptables": ["false"],
}  # fmt: skip


def _valued(valued: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    return st.sampled_from(valued).flatmap(
        lambda option: st.tuples(st.just(option), st.one_of(st.sampled_from(GOOD.get(option, [""])), VALUES))
    )


def _option(flags: list[str], valued: list[str]) -> st.SearchStrategy[list[str]]:
    """One option: a flag, ``--opt=value``, or ``--opt value`` (the value may be missing)."""
    return st.one_of(
        st.sampled_from(flags).map(lambda flag: [flag]),
        _valued(valued).map(lambda pair: [f"{pair[0]}={pair[1]}"]),
        _valued(valued).map(list),
        st.sampled_from(valued).map(lambda option: [option]),
    )


def _flatten(groups: list[list[str]]) -> list[str]:
    return [word for group in groups for word in group]


@st.composite
def launcher_argv(draw: st.DrawFn) -> list[str]:
    """Launcher options, DOCKER_BINARY (sometimes none), then dockerd ARGS that start with an option."""
    front = _flatten(draw(st.lists(_option(LAUNCHER_FLAGS, LAUNCHER_VALUED), max_size=3)))
    if draw(st.integers(0, 9)) == 0:
        return front  # no DOCKER_BINARY at all
    binary = draw(st.sampled_from(BINARIES))
    first = draw(st.lists(_option(DOCKERD_FLAGS, DOCKERD_VALUED), min_size=0, max_size=1))
    rest = draw(st.lists(st.one_of(_option(DOCKERD_FLAGS, DOCKERD_VALUED), VALUES.map(lambda v: [v])), max_size=4))
    seed_word = ["daemon"] if draw(st.booleans()) and binary == "docker" else []
    return [*front, binary, *seed_word, *_flatten(first), *(_flatten(rest) if first else [])]


def launcher_env() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(ENV_NAMES), ENV_VALUES, max_size=4)


class Tally:
    """How fuzzed runs ended, printed at the end of a property (`-s` shows it)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, outcome: Outcome) -> None:
        key = "ran the place-holder" if outcome.timed_out else f"exit {outcome.returncode}"
        self.counts[key] += 1

    def report(self, what: str) -> str:
        endings = ", ".join(f"{count} {key}" for key, count in sorted(self.counts.items()))
        return f"fuzz {what}: {sum(self.counts.values())} examples tried ({endings})"


def assert_contract(outcome: Outcome, shown: str) -> None:
    """No traceback ever; a refusal is one error line with a hint, exit 1 or 2, no mount left."""
    report = f"{shown}\nexit {outcome.returncode}\nstderr:\n{outcome.stderr}\nstdout:\n{outcome.stdout}"
    assert "Traceback" not in outcome.stderr + outcome.stdout, report
    if outcome.timed_out:
        # Accepted input runs the place-holder dockerd until the time-out; a launcher that
        # hangs before it gets there must not pass as accepted.
        assert outcome.stdout.startswith("ready "), f"timed out before the place-holder started\n{report}"
        return
    if outcome.returncode == 0:
        return
    assert outcome.returncode in (1, 2), report
    lines = outcome.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("dockerlaunch: error: ")]
    others = [line for line in lines if line not in errors and not line.startswith("dockerlaunch: warning: ")]
    assert len(errors) == 1 and not others, report
    assert "(hint: " in errors[0], report
    assert outcome.new_mounts == [], f"mounts left behind: {outcome.new_mounts}\n{report}"
