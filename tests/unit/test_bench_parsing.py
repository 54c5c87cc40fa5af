"""The benchmark's readers of launcher, importtime and dockerd output (what the figures come from)."""

import pytest
from bench.engine import dockerd_milestones, dockerd_pauses
from bench.fig_launcher import import_times, stamps_ms, step_times
from bench.table import BenchError


def test_bench_launcher_stamps_give_milliseconds() -> None:
    """The launcher's time should be the dockerd stamp minus the start stamp, in ms."""
    stderr = "stamp stamp 1000000000\ndockerlaunch: info: x\nstamp dockerd 1045500000\n"
    assert stamps_ms(stderr) == 45.5


def test_bench_launcher_without_end_stamp_is_an_error() -> None:
    """A launcher that never reached dockerd should fail the run with its last lines, not give a time."""
    with pytest.raises(BenchError, match=r"did not reach dockerd: .*hint"):
        stamps_ms("stamp stamp 1000\ndockerlaunch: error: no cgroups (hint: run with --privileged)\n")


def test_bench_launcher_step_times_keep_top_level_steps() -> None:
    """Only the launcher's top-level '...: done in X ms' lines should count as steps."""
    stderr = (
        "dockerlaunch: debug: cgroups: done in 7.8 ms\n"
        "dockerlaunch: debug:   nested thing: done in 1.0 ms\n"
        "dockerlaunch: debug: TLS certificates in /certs: done in 59.8 ms\n"
    )
    assert step_times(stderr) == {"cgroups": 7.8, "TLS certificates in /certs": 59.8}


def test_bench_importtime_finds_each_module_importer() -> None:
    """Each -X importtime line should be attributed to the module one level up that follows it."""
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |     typing\n"
        "import time:       200 |        300 |   docker_from_scratch.launcher.cgroups\n"
        "import time:        50 |        350 | docker_from_scratch.launcher.cli\n"
    )
    assert import_times(stderr) == [
        ("typing", 100, 100, "docker_from_scratch.launcher.cgroups"),
        ("docker_from_scratch.launcher.cgroups", 200, 300, "docker_from_scratch.launcher.cli"),
        ("docker_from_scratch.launcher.cli", 50, 350, ""),
    ]


def test_bench_dockerd_milestones_from_text_and_terminal_logs() -> None:
    """dockerd's start and listen times should be read from both of its log formats."""
    text = (
        'time="2026-11-28T06:44:50.039186480Z" level=info msg="Starting up"\n'
        'time="2026-11-28T06:44:51.539186480Z" level=info msg="API listen on /var/run/docker.sock"\n'
        'time="2026-11-28T06:44:51.939186480Z" level=info msg="API listen on [::]:2376"\n'
    )
    terminal = (
        "\x1b[36mINFO\x1b[0m[2026-11-28T06:46:41.250000000Z] Starting up\n"
        "\x1b[36mINFO\x1b[0m[2026-11-28T06:46:52.000000000Z] API listen on /var/run/docker.sock\n"
    )
    found = dockerd_milestones(text)
    assert found["API listen on"] - found["Starting up"] == pytest.approx(1.5)
    found = dockerd_milestones(terminal)
    assert found["API listen on"] - found["Starting up"] == pytest.approx(10.75)
    assert dockerd_milestones("no daemon here") == {}


def test_bench_dockerd_pauses_name_the_line_before_each() -> None:
    """Long gaps in dockerd's log should come longest first, each with the message logged just before it."""
    log = (
        'time="2026-11-28T07:02:31.400000000Z" level=info msg="containerd successfully booted in 0.03s"\n'
        'time="2026-11-28T07:02:32.472846659Z" level=warning msg="a \\"hard\\" failure" host="tcp://0.0.0.0:2375"\n'
        "dockerlaunch: info: not dockerd's\n"
        'time="2026-11-28T07:02:33.474292172Z" level=info msg="could not change group"\n'
        'time="2026-11-28T07:02:33.574292172Z" level=info msg="containerd not running"\n'
    )
    pauses = dockerd_pauses(log)
    assert [message for _, message in pauses] == ['containerd successfully booted in 0.03s', 'a \\"hard\\" failure']
    assert pauses[1][0] == pytest.approx(1.0014, abs=1e-3)
    assert dockerd_pauses("") == []


def test_bench_launcher_holds_back_gives_the_overshoot_and_the_biggest_parts() -> None:
    """A missed launcher target should say how far over, the floor, then the three biggest parts."""
    from bench.fig_launcher import FLOOR_PART, holds_back

    parts = {FLOOR_PART: 16.0, "cgroups": 9.0, "iptables": 1.0, "pre-flight checks": 5.0, "the rest": 12.0}
    text = holds_back(48.0, parts, 60.0, 1.25)
    assert text == (
        f"8.0 ms over at load 1.2: {FLOOR_PART} 16.0 ms, the rest 12.0 ms, cgroups 9.0 ms, "
        "pre-flight checks 5.0 ms (of 60.0 ms in --debug runs)"
    )
def test_bench_bare_kernel_phases_map_dockerd_log_onto_uptime() -> None:
    """PID 1's uptime lines and dockerd's realtime log should give each phase of a boot, in seconds."""
    import datetime

    from bench.fig_bare_kernel import Phases

    realtime_at_uptime_0 = datetime.datetime(2026, 12, 1, 18, 0, 0, tzinfo=datetime.UTC).timestamp()
    console = (
        "dockerlaunch: info: bare kernel: PID 1 started (uptime 6.5 s)\n"
        "dockerlaunch: info: bare kernel: kernel modules: 16 asked for in one modprobe, 2.25 s\n"
        "dockerlaunch: info: bare kernel: system prepared 3.0 s after the kernel ran /init (uptime 9.0 s)\n"
        f"dockerlaunch: info: bare kernel: clock: realtime {realtime_at_uptime_0 + 9.0:.3f} s at uptime 9.000 s\n"
        "dockerlaunch: info: bare kernel: the launcher exec'd /usr/bin/dockerd at uptime 11.50 s\n"
        "\x1b[36mINFO\x1b[0m[2026-12-01T18:00:13.500000000Z] Starting up\n"
        "\x1b[36mINFO\x1b[0m[2026-12-01T18:00:21.000000000Z] API listen on /var/run/docker.sock\n"
        "dockerlaunch: info: ready: dockerd answers on /var/run/docker.sock, 15.2 s after the kernel ran /init"
        " (uptime 21.2 s)\n"
    )
    phases = Phases(console)
    assert phases.init_exec == pytest.approx(6.0)
    assert (phases.modules_count, phases.modules_s) == (16, 2.25)
    assert phases.span(phases.init_exec, phases.pid1) == pytest.approx(0.5)
    assert phases.span(phases.prepared, phases.dockerd_exec) == pytest.approx(2.5)
    assert phases.span(phases.dockerd_exec, phases.dockerd_start) == pytest.approx(2.0, abs=1e-3)
    assert phases.own_start() == pytest.approx(9.5, abs=1e-3)
    assert phases.span(phases.dockerd_listen, phases.ready) == pytest.approx(0.2, abs=1e-3)
    assert phases.holds_back().startswith("outside dockerd's own start: PID 1's system preparation 2.5 s")
    assert Phases("no boot here").own_start() is None


def test_bench_launcher_import_only_imports_in_order_then_execs() -> None:
    """The imports-alone run should import each module in the given order, then exec the stamp."""
    from bench.fig_launcher import END, import_only

    argv = import_only(["ctypes", "docker_from_scratch.launcher.cli"])
    assert argv[:4] == ("--exec", "/usr/bin/python3", "-IS", "-c")
    code = argv[4]
    assert code.index("import ctypes;") < code.index("import docker_from_scratch.launcher.cli;")
    assert code.endswith(f"os.execv({END!r}, [{END!r}])")
    compile(code, "<import_only>", "exec")
