"""The image's layout facts, once: where things live, shared by the builder and the launcher.

The builder writes these paths into the image (its ENTRYPOINT, the data volume, the
default identity files); the launcher and the bare-kernel PID 1 find them there. One
copy, so the two sides cannot drift apart.
"""

# dockerd's default --data-root, and the image's volume.
DATA_ROOT = "/var/lib/docker"
# dockerd's default unix socket (/var/run points to /run in the image).
DOCKER_SOCKET = "/var/run/docker.sock"
# The launcher's path in the image (also /init of the initramfs, and the health check).
LAUNCHER = "/usr/bin/dockerlaunch"
# The image's ENTRYPOINT: the launcher, then the program it starts by default. A VM has
# no image config, so the bare-kernel PID 1 uses the same words after the launcher.
ENTRYPOINT = (LAUNCHER, "/usr/bin/dockerd")
# Images shipped in the initramfs (`docker-from-scratch initramfs --add-image`), loaded
# into dockerd at boot: the VM has no network and no registry.
IMAGES_DIR = "/usr/share/docker-from-scratch/images"
# Minimal identity files: ssh (git over ssh) needs a passwd entry for uid 0; the devpts
# mount's gid=5 option names the tty group, so /etc/group must have it.
PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\ntty:x:5:\n"
