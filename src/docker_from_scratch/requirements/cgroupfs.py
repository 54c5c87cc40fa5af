"""/proc/cgroups, read one way for the launcher's cgroup step and for the probes."""

from docker_from_scratch.requirements.record import Record


class Controller(Record):
    """A line of /proc/cgroups."""

    __slots__ = ("name", "hierarchy", "num_cgroups", "enabled")

    def __init__(self, name: str, hierarchy: int, num_cgroups: int, enabled: bool) -> None:
        self.name = name
        self.hierarchy = hierarchy  # 0: not on any v1 hierarchy (on v2, or unused)
        self.num_cgroups = num_cgroups
        self.enabled = enabled


def parse_proc_cgroups(text: str) -> list[Controller]:
    """/proc/cgroups: "#subsys_name hierarchy num_cgroups enabled" lines."""
    controllers = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#") or len(fields) < 4:
            continue
        controllers.append(Controller(fields[0], int(fields[1]), int(fields[2]), fields[3] == "1"))
    return controllers
