"""Benchmarks: ``make bench`` (``python -m bench``) runs every ``bench/bench_*.py``.

Each benchmark module measures vehicle_mw side by side with a peer in the same run,
prints a table, and writes its Markdown section to ``bench/results/<name>.md``;
BENCHMARKS.md is assembled from those sections with the machine and the command.
"""
