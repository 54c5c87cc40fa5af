"""What Docker needs from the Linux user space: one table, read by everything.

- ``table``: the rows (data only, no logic): what, why, whether it can be ignored,
  how to provide it (Debian packages and image paths) and how to test for it.
- ``probes``: the tests named by each row, returning ``Result`` data.

The launcher (inside the image), the builder (on the build host), the ``check``
doctor and the README generator all import this package; it imports none of them.
Standard library only: the launcher carries it into the image.
"""
