"""docker-from-scratch: a FROM-scratch Docker-in-Docker image and its Python launcher.

Packages, by where they run:
- ``launcher``: runs inside the image (standard library first; imported lazily).
- ``builder``: runs on the build host and writes the image.
- ``doctor``: the ``check`` command, runnable anywhere.
- ``requirements``: the table all three read.
"""

__version__ = "0.1.0"
