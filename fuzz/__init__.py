"""Coverage-guided fuzzing (atheris/libFuzzer) of every parser a peer or a file can reach.

Each module in :mod:`fuzz.targets` fuzzes one parser: ``one_input(data)`` feeds it the bytes and
``EXPECTED`` lists the project's clear error types; anything else (another exception, a crash, a
hang) is a finding. ``python -m fuzz`` runs targets in subprocesses; see docs/fuzzing.md.
"""
