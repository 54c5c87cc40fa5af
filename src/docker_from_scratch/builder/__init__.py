"""The image builder: runs on the build host, never inside the image.

Layers (each module one concern): ``proc`` (subprocesses) <- ``apt`` (fetch .debs) <-
``debs`` (unpack) <- ``tree`` (the image's file tree) <- ``elf`` (library closure),
``pyruntime`` (minimal CPython), ``content`` (what the table asks for) <- ``image``
(docker-archive writer), ``report`` (sizes) <- ``build`` (one build) <- ``cmd_*`` (verbs).
"""
