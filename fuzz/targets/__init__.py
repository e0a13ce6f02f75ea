"""One module per fuzzed parser: ``EXPECTED`` (clear errors) and ``one_input(data)``."""
