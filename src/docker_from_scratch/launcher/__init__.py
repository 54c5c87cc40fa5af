"""dockerlaunch: prepares the Linux user space Docker needs, then runs dockerd.

Runs inside a FROM-scratch image, so it imports only the standard library at start-up;
heavier modules (ctypes, netlink) are imported inside the step that needs them.
Import direction: syscalls <- log/errors <- run <- steps <- cli.
"""
