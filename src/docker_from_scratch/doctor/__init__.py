"""The doctor: `check` tests every requirement row where it runs, `readme-table` prints
the README's table. Standard library only: ``check`` also runs inside the image
(/usr/bin/docker-from-scratch, through ``doctor.cli``), which carries no builder code.
"""
