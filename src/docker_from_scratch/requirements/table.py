"""The requirement table: every thing Docker needs from the user space, as data.

Levels:
    hard      Docker cannot run without it; the launcher stops, ``check`` exits 1.
    soft      Docker runs, but ``lost`` says what goes missing; a warning.
    optional  Only some builds need it (git, ssh); ``--slim`` images leave it out.
    rootless  Only the rootless variant (``build --rootless``) needs it; there the
              rootless launcher stops on it like a hard row, elsewhere nothing checks it.

``probe`` names how to test for the row (see ``probes.PROBES``) and ``target`` is
what the probe looks at. ``packages`` lists Debian packages, the first one the suite
has wins; ``programs`` are looked up on PATH (and in the package's bin directories by
the builder); ``files`` are absolute paths in the image; ``links`` are symlinks the
builder creates because Debian makes them in a maintainer script (alternatives).
A ``library`` row's target is a soname that the launcher loads with dlopen (no DT_NEEDED
entry names it): the builder takes it from the packages' library directories.
"""

from __future__ import annotations

from docker_from_scratch.requirements.layout import DATA_ROOT

# The soname the launcher's TLS step loads (launcher/libcrypto.py) and the builder takes.
LIBCRYPTO = "libcrypto.so.3"

# Plain classes, not dataclasses: the launcher imports this table at every container
# start, and dataclasses (with inspect and re) plus typing cost ~20 ms there.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["file", "engine", "kernel", "privilege"]
    Level = Literal["hard", "soft", "optional", "rootless"]

_FIELDS = (
    "name", "kind", "level", "why", "probe", "target", "lost", "fix",
    "packages", "programs", "files", "links", "fixed_by_launcher", "extra",
)  # fmt: skip


class Requirement:
    """One row: what, why, whether it can be ignored, how to provide it, how to test it."""

    __slots__ = _FIELDS

    def __init__(
        self,
        name: str,
        kind: Kind,
        level: Level,
        why: str,
        probe: str,
        target: str = "",
        lost: str = "",
        fix: str = "",
        packages: tuple[str, ...] = (),
        programs: tuple[str, ...] = (),
        files: tuple[str, ...] = (),
        links: tuple[tuple[str, str], ...] = (),
        # True when the launcher repairs this itself (remounts /sys rw, mounts cgroups),
        # so its pre-flight must not stop on it.
        fixed_by_launcher: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.kind: Kind = kind
        self.level: Level = level
        self.why = why
        self.probe = probe
        self.target = target
        self.lost = lost
        self.fix = fix
        self.packages = packages
        self.programs = programs
        self.files = files
        self.links = links
        self.fixed_by_launcher = fixed_by_launcher
        self.extra: dict[str, str] = extra or {}

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _FIELDS[:-1])  # extra does not count

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Requirement) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Requirement({self.name!r}, {self.kind!r}, {self.level!r})"

    def replace(self, **changes: object) -> Requirement:
        """A copy with some fields changed (e.g. the data root as the target)."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return Requirement(**values)


_IPTABLES_NFT = tuple(
    (f"/usr/sbin/{name}", "xtables-nft-multi")
    for name in (
        "iptables", "iptables-save", "iptables-restore",
        "ip6tables", "ip6tables-save", "ip6tables-restore",
        "iptables-nft", "iptables-nft-save", "iptables-nft-restore",
        "ip6tables-nft", "ip6tables-nft-save", "ip6tables-nft-restore",
    )
)  # fmt: skip
_IPTABLES_LEGACY = tuple(
    (f"/usr/sbin/{name}", "xtables-legacy-multi")
    for name in (
        "iptables-legacy", "iptables-legacy-save", "iptables-legacy-restore",
        "ip6tables-legacy", "ip6tables-legacy-save", "ip6tables-legacy-restore",
    )
)  # fmt: skip

REQUIREMENTS: tuple[Requirement, ...] = (
    # --- the engine -----------------------------------------------------------------
    Requirement(
        "dockerd", "engine", "hard",
        why="run the Docker daemon itself",
        probe="program", target="dockerd",
        fix="use an image that ships the engine (docker-from-scratch build)",
        packages=("docker.io",), programs=("dockerd",),
        # Debian ships /usr/sbin/dockerd; the image's entrypoint names /usr/bin/dockerd
        links=(("/usr/bin/dockerd", "../sbin/dockerd"),),
    ),
    Requirement(
        "containerd", "engine", "hard",
        why="run containers: dockerd hands them to containerd",
        probe="program", target="containerd",
        fix="install containerd",
        packages=("containerd",), programs=("containerd",),
    ),
    Requirement(
        "containerd-shim-runc-v2", "engine", "hard",
        why="keep each container's process under containerd (the shim)",
        probe="program", target="containerd-shim-runc-v2",
        fix="install containerd",
        packages=("containerd",), programs=("containerd-shim-runc-v2",),
    ),
    Requirement(
        "runc", "engine", "hard",
        why="create each container's namespaces and cgroups (the OCI runtime)",
        probe="program", target="runc",
        fix="install runc",
        packages=("runc",), programs=("runc",),
    ),
    Requirement(
        "docker-init", "engine", "soft",
        why="serve `docker run --init` and the launcher's small reaping PID 1",
        probe="program", target="docker-init",
        lost="`docker run --init`; reap mode falls back to the launcher staying resident",
        fix="install tini",
        # forky split the static binary into its own package; trixie's tini holds it.
        packages=("tini-static", "tini"), programs=("tini-static",),
        links=(("/usr/bin/docker-init", "tini-static"),),
    ),
    Requirement(
        "stop-waiter", "engine", "soft",
        why="wait for `docker stop` in about 0.3 MB RSS, then stop nested containers on time (the clean stop)",
        # stopgrace.WAITERS: the launcher takes dash when mksh-static is missing.
        probe="program", target="mksh-static",
        lost="the small stop waiter: dash waits instead (2.0 MB RSS), else the launcher stays resident (~12 MB)",
        fix="install mksh",
        packages=("mksh",), programs=("mksh-static",),
    ),
    Requirement(
        "docker-proxy", "engine", "soft",
        why="forward published ports from the host to containers (userland proxy)",
        probe="program", target="docker-proxy",
        lost="published ports from loopback; run dockerd with --userland-proxy=false",
        fix="install docker.io",
        packages=("docker.io",), programs=("docker-proxy",),
    ),
    Requirement(
        "docker", "engine", "soft",
        why="run docker commands inside the container (`docker exec daemon docker ps`)",
        probe="program", target="docker",
        lost="docker commands inside the container (the daemon still serves its socket)",
        fix="install the Docker CLI",
        packages=("docker-cli", "docker.io"), programs=("docker",),
    ),
    # --- the seed's files and programs -----------------------------------------------
    Requirement(
        "ca-certificates", "file", "soft",
        why="trust the TLS certificates of registries and of git servers over https",
        probe="file", target="/etc/ssl/certs/ca-certificates.crt",
        lost="pulling from registries and cloning over https",
        fix="install ca-certificates",
        packages=("ca-certificates",), files=("/etc/ssl/certs/ca-certificates.crt",),
    ),
    Requirement(
        "modprobe", "file", "soft",
        why="load overlay, bridge and netfilter modules on demand (dockerd and the launcher)",
        probe="program", target="modprobe",
        lost="kernel modules must already be loaded on the host",
        fix="install kmod, and mount the host's modules: -v /lib/modules:/lib/modules:ro",
        packages=("kmod",), programs=("kmod",),
        links=(("/usr/sbin/modprobe", "../bin/kmod"),),
    ),
    Requirement(
        "iptables", "file", "soft",
        why="program NAT and filtering for bridge networks and published ports",
        probe="program", target="iptables",
        lost="container networking beyond the bridge; run dockerd with --iptables=false",
        fix="install iptables, or run dockerd with --iptables=false",
        packages=("iptables",), programs=("xtables-nft-multi", "xtables-legacy-multi"),
        links=_IPTABLES_NFT + _IPTABLES_LEGACY,
    ),
    Requirement(
        "ps", "file", "soft",
        why="answer `docker top`, which runs ps",
        probe="program", target="ps",
        lost="`docker top`",
        fix="install procps",
        packages=("procps",), programs=("ps",),
    ),
    Requirement(
        "xz", "file", "soft",
        why="unpack xz-compressed image archives (dockerd runs xz)",
        probe="program", target="xz",
        lost="`docker load` of .tar.xz images",
        fix="install xz-utils",
        packages=("xz-utils",), programs=("xz",),
    ),
    Requirement(
        "libcrypto", "file", "soft",
        why="make the TLS certificates under $DOCKER_TLS_CERTDIR (the launcher calls OpenSSL's libcrypto)",
        probe="library", target=LIBCRYPTO,
        lost="TLS on port 2376 (use DOCKER_TLS_CERTDIR='' for 2375)",
        fix="install libssl3t64 (libssl3 before trixie), or run with DOCKER_TLS_CERTDIR='' for port 2375 without TLS",
        packages=("libssl3t64", "libssl3"),
    ),
    Requirement(
        "git", "file", "optional",
        why="clone the repository of a `docker build` from a git URL",
        probe="program", target="git",
        lost="`docker build git://...` and other git build contexts",
        fix="use the full image (not --slim), or install git",
        # git-upload-pack: local and file:// clones run it by name;
        # templates/info/exclude: without the template dir every clone warns.
        # git-sh-i18n--envsubst (2.3 MB) is not taken: the builder writes a dash
        # stand-in with the git-submodule row (builder/envsubst.py).
        packages=("git",), programs=("git", "git-upload-pack"),
        files=("/usr/lib/git-core/git-remote-http", "/usr/lib/git-core/git-remote-https",
               "/usr/share/git-core/templates/info/exclude"),
    ),
    Requirement(
        "git-clone", "file", "optional",
        why="clone git build contexts (dockerd runs `git clone`)",
        probe="git-subcommand", target="clone",
        lost="`docker build` from git URLs",
        fix="use the full image (not --slim), or install git",
        packages=("git",), programs=("git",),
    ),
    Requirement(
        "git-checkout", "file", "optional",
        why="check out the requested ref of a git build context",
        probe="git-subcommand", target="checkout",
        lost="`docker build` from git URLs with a ref",
        fix="use the full image (not --slim), or install git",
        packages=("git",), programs=("git",),
    ),
    Requirement(
        "git-submodule", "file", "optional",
        why="update submodules of git build contexts (git-submodule is a shell script)",
        probe="git-subcommand", target="submodule", extra={"needs": "sed basename uname"},
        lost="`docker build` from git repositories with submodules",
        fix="use the full image (not --slim), or install git with sh, sed, basename and uname",
        packages=("git", "dash", "sed", "coreutils"),
        programs=("dash", "sed", "basename", "uname"),
        files=("/usr/lib/git-core/git-submodule", "/usr/lib/git-core/git-sh-setup",
               "/usr/lib/git-core/git-sh-i18n"),
        links=(("/usr/bin/sh", "dash"),),
    ),
    Requirement(
        "ssh", "file", "optional",
        why="clone over ssh (git@host:repo build contexts)",
        probe="program", target="ssh",
        lost="`docker build` from ssh git URLs",
        fix="use the full image (not --slim), or install openssh-client",
        packages=("openssh-client",), programs=("ssh",),
    ),
    # --- the kernel ---------------------------------------------------------------------
    Requirement(
        "overlay", "kernel", "soft",
        why="use the overlay2 storage driver",
        probe="filesystem", target="overlay",
        lost="overlay2; dockerd falls back to vfs (slow, full copies)",
        fix="load the overlay module on the host (modprobe overlay)",
    ),
    Requirement(
        "kernel modules", "kernel", "soft",
        why="load overlay, bridge, veth, br_netfilter, nf_nat when the host has not (modprobe)",
        probe="modules-dir", target="overlay bridge veth br_netfilter nf_nat",
        lost="modules the host has not loaded stay missing",
        fix="mount the host's modules: -v /lib/modules:/lib/modules:ro, or load them on the host"
        " (modprobe -a overlay bridge veth br_netfilter nf_nat)",
    ),
    Requirement(
        "data root not on overlayfs", "kernel", "soft",
        why="use overlay2, which cannot stack on an overlayfs data root",
        probe="not-overlay", target=DATA_ROOT,
        lost="overlay2 for the nested daemon",
        fix=f"put {DATA_ROOT} on a volume: -v dind-data:{DATA_ROOT}",
    ),
    Requirement(
        "bridge", "kernel", "soft",
        why="create the default bridge network (docker0)",
        probe="module", target="bridge",
        lost="bridge networks; run dockerd with --bridge=none",
        fix="load the bridge module on the host (modprobe bridge)",
    ),
    Requirement(
        "veth", "kernel", "soft",
        why="connect each bridged container to its bridge (one end of a veth pair)",
        probe="module", target="veth",
        lost="bridge networks; run dockerd with --bridge=none",
        fix="load the veth module on the host (modprobe veth)",
    ),
    Requirement(
        "br_netfilter", "kernel", "soft",
        why="let iptables rules see traffic between containers on one bridge",
        probe="module", target="br_netfilter",
        lost="inter-container filtering (--icc=false) on bridges",
        fix="load br_netfilter on the host (modprobe br_netfilter)",
    ),
    Requirement(
        "netfilter nat", "kernel", "soft",
        why="masquerade outbound traffic and publish ports (nf_tables or legacy ip_tables)",
        probe="netfilter", target="nat",
        lost="outbound NAT and published ports; run dockerd with --iptables=false",
        fix="load nf_tables (or ip_tables) and nf_nat on the host",
    ),
    Requirement(
        "cgroups", "kernel", "hard",
        why="put every container in a cgroup (dockerd and runc)",
        probe="cgroup-fs", target="/sys/fs/cgroup",
        fix="use a kernel with cgroups (CONFIG_CGROUPS); dockerlaunch mounts them",
    ),
    Requirement(
        "writable cgroups", "kernel", "hard",
        why="create a cgroup for each container under /sys/fs/cgroup",
        probe="cgroup-writable", target="/sys/fs/cgroup",
        fix="run the container with --privileged (dockerlaunch then mounts cgroups read-write)",
        fixed_by_launcher=True,
    ),
    Requirement(
        "cgroup cpu", "kernel", "soft",
        why="apply --cpus and --cpu-shares limits",
        probe="cgroup-controller", target="cpu",
        lost="CPU limits", fix="enable the cpu controller on the host",
    ),
    Requirement(
        "cgroup memory", "kernel", "soft",
        why="apply --memory limits",
        probe="cgroup-controller", target="memory",
        lost="memory limits", fix="boot the host with cgroup_enable=memory",
    ),
    Requirement(
        "cgroup pids", "kernel", "soft",
        why="apply --pids-limit",
        probe="cgroup-controller", target="pids",
        lost="pids limits", fix="enable the pids controller on the host",
    ),
    Requirement(
        "cgroup devices", "kernel", "soft",
        why="enforce device access rules (v1 devices controller, or BPF on cgroup v2)",
        probe="cgroup-devices", target="devices",
        lost="device isolation of containers", fix="enable the devices controller on the host",
    ),
    Requirement(
        "namespaces", "kernel", "hard",
        why="give each container its mount, pid, net, uts and ipc namespaces",
        probe="namespaces", target="mnt pid net uts ipc",
        fix="use a kernel with namespaces (CONFIG_NAMESPACES)",
    ),
    Requirement(
        "seccomp", "kernel", "soft",
        why="apply Docker's default seccomp profile",
        probe="seccomp",
        lost="the default syscall filter; containers run unconfined",
        fix="use a kernel with CONFIG_SECCOMP_FILTER",
    ),
    # --- privileges -----------------------------------------------------------------------
    Requirement(
        "root", "privilege", "hard",
        why="run dockerd (rootless mode is another image)",
        probe="root",
        fix="run as root",
    ),
    Requirement(
        "CAP_SYS_ADMIN", "privilege", "hard",
        why="mount file systems and create namespaces",
        probe="capability", target="CAP_SYS_ADMIN",
        fix="run the container with --privileged, or --cap-add SYS_ADMIN (docker-from-scratch flags --minimal)",
    ),
    Requirement(
        "CAP_NET_ADMIN", "privilege", "hard",
        why="create bridges, veth pairs and iptables rules",
        probe="capability", target="CAP_NET_ADMIN",
        fix="run the container with --privileged, or --cap-add NET_ADMIN (docker-from-scratch flags --minimal)",
    ),
    Requirement(
        "CAP_MKNOD", "privilege", "hard",
        # In Docker's default set too: without it runc cannot give it to any container.
        why="create device nodes in container file systems (and give containers CAP_MKNOD)",
        probe="capability", target="CAP_MKNOD",
        fix="run the container with --privileged",
    ),
    Requirement(
        "CAP_SYS_MODULE", "privilege", "soft",
        why="load kernel modules from inside the container",
        probe="capability", target="CAP_SYS_MODULE",
        lost="modules the host has not loaded stay missing",
        fix="run the container with --privileged, or load the modules on the host",
    ),
    Requirement(
        "container capabilities", "privilege", "hard",
        # runc gives every container Docker's default set; it must be in the daemon's own
        # set, or runc fails with "unable to apply caps" (the same error --privileged hits
        # on the build machine, whose bounding set lacks CAP_SYS_RESOURCE).
        why="give containers Docker's default capability set",
        probe="capability",
        target=(
            "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FSETID CAP_FOWNER CAP_MKNOD CAP_NET_RAW "
            "CAP_SETGID CAP_SETUID CAP_SETFCAP CAP_SETPCAP CAP_NET_BIND_SERVICE "
            "CAP_SYS_CHROOT CAP_KILL CAP_AUDIT_WRITE"
        ),
        fix="run the container with --privileged (or keep Docker's default capabilities)",
    ),
    Requirement(
        "writable /sys", "privilege", "hard",
        why="let dockerd and runc write under /sys (bridges, cgroups)",
        probe="writable", target="/sys",
        fix="run the container with --privileged (dockerlaunch then remounts /sys read-write)",
        fixed_by_launcher=True,
    ),
    Requirement(
        "keyctl", "privilege", "hard",
        # Docker's default seccomp profile refuses keyctl(2): runc then fails every nested
        # start with "unable to join session keyring" (measured without seccomp=unconfined).
        why="let runc give each container its own session keyring",
        probe="keyctl",
        fix="run the container with --privileged, or --security-opt seccomp=unconfined",
    ),
    Requirement(
        "writable /proc/sys", "privilege", "hard",
        # Docker binds /proc/sys read-only: dockerd then fails every nested start with
        # "failed to disable IPv6 on container's interface" (measured without systempaths).
        why="let dockerd set each container's network sysctls (IPv6 off on IPv4 networks)",
        probe="writable", target="/proc/sys",
        fix="run the container with --privileged, or --security-opt systempaths=unconfined",
    ),
    Requirement(
        "/dev/null", "privilege", "hard",
        why="give every container /dev/null (the daemon opens it too)",
        probe="device", target="/dev/null",
        fix="run the container with --privileged",
    ),
    Requirement(
        "/dev/fuse", "privilege", "optional",
        why="run fuse-overlayfs and FUSE file systems in containers",
        probe="device", target="/dev/fuse",
        lost="FUSE inside containers", fix="load the fuse module on the host",
    ),
    # --- the rootless variant (build --rootless): dockerd as uid 1000 under rootlesskit --
    Requirement(
        "rootlesskit", "engine", "rootless",
        why="run dockerd in a user namespace as an unprivileged user (rootless mode)",
        probe="program", target="rootlesskit",
        lost="rootless mode",
        fix="use the rootless image (docker-from-scratch build --rootless)",
        packages=("rootlesskit", "util-linux", "iproute2"),
        # dockerd 26 publishes ports through rootlesskit-docker-proxy when rootless;
        # rootlesskit runs `nsenter ... ip tuntap add` to make the tap device.
        programs=("rootlesskit", "rootlesskit-docker-proxy", "nsenter", "ip"),
    ),
    Requirement(
        "slirp4netns", "engine", "rootless",
        # Chosen over pasta (passt): see the README's rootless section for the figures.
        why="give the rootless daemon's network namespace a user-mode uplink (rootlesskit --net)",
        probe="program", target="slirp4netns",
        lost="rootless networking",
        fix="use the rootless image, or set DOCKERD_ROOTLESS_ROOTLESSKIT_NET to a driver it has",
        packages=("slirp4netns",), programs=("slirp4netns",),
    ),
    Requirement(
        "fuse-overlayfs", "engine", "rootless",
        why="layer images rootless where the kernel (< 5.13) has no overlayfs in a user namespace",
        probe="program", target="fuse-overlayfs",
        lost="overlay storage rootless on kernels before 5.13 (dockerd falls back to vfs)",
        fix="use a kernel from 5.13 on, or the rootless image (it ships fuse-overlayfs)",
        packages=("fuse-overlayfs",), programs=("fuse-overlayfs",),
    ),
    Requirement(
        "uid map tools", "privilege", "rootless",
        # The only privileged programs of rootless mode; the builder keeps Debian's setuid bit.
        why="map the subordinate ids into the user namespace (newuidmap, newgidmap: setuid root)",
        probe="setuid", target="newuidmap newgidmap",
        lost="more than one uid in rootless containers",
        fix="install uidmap with newuidmap and newgidmap setuid root, and do not run the "
            "container with --security-opt no-new-privileges",
        packages=("uidmap",), programs=("newuidmap", "newgidmap"),
    ),
    Requirement(
        "subordinate ids", "privilege", "rootless",
        why="give the rootless user 65,536 ids for the users of nested containers",
        probe="subids", target="/etc/subuid /etc/subgid",
        lost="rootless mode",
        fix="add a line USER:100000:65536 for the user to /etc/subuid and /etc/subgid",
    ),
    Requirement(
        "user namespaces", "kernel", "rootless",
        why="let an unprivileged user create a user namespace (rootlesskit)",
        probe="userns-sysctl",
        target="/proc/sys/user/max_user_namespaces /proc/sys/kernel/unprivileged_userns_clone",
        lost="rootless mode",
        fix="on the host: sysctl -w user.max_user_namespaces=28633 "
            "kernel.unprivileged_userns_clone=1",
    ),
    Requirement(
        "unshare allowed", "privilege", "rootless",
        why="call unshare(CLONE_NEWUSER), which Docker's default seccomp profile and AppArmor refuse",
        probe="userns-unshare",
        lost="rootless mode",
        fix="run the container with --privileged, or with --security-opt seccomp=unconfined "
            "--security-opt apparmor=unconfined",
    ),
    Requirement(
        "/dev/net/tun", "privilege", "rootless",
        why="give slirp4netns the tap device of the rootless network namespace",
        probe="device", target="/dev/net/tun",
        lost="rootless networking",
        fix="run the container with --privileged, or with --device /dev/net/tun",
    ),
)  # fmt: skip


def by_name(name: str) -> Requirement:
    for row in REQUIREMENTS:
        if row.name == name:
            return row
    raise KeyError(name)


def image_rows(*, slim: bool, rootless: bool = False) -> tuple[Requirement, ...]:
    """The rows whose packages go into the image; ``slim`` drops the optional ones and
    only ``rootless`` images take the rootless rows."""
    return tuple(
        row
        for row in REQUIREMENTS
        if row.packages
        and not (slim and row.level == "optional")
        and (rootless or row.level != "rootless")
    )


def rootless_rows() -> tuple[Requirement, ...]:
    """The rows the rootless launcher stops on (before rootlesskit starts)."""
    return tuple(row for row in REQUIREMENTS if row.level == "rootless")
