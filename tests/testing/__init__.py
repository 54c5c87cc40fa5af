"""Helpers shared by the tests: the host engine, locally made images, DinD containers."""
