"""Helpers shared by the tests (importable as ``helpers`` with tests/ on the path)."""
