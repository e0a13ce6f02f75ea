"""Fixtures of the execution-manager tests (helpers live in exec_helpers.py)."""

from exec_helpers import run_manager, ws  # noqa: F401  (pytest fixtures)
