"""Benchmarks of docker-from-scratch (issue 7): ``bench/run``; see ``bench/__main__.py``."""
