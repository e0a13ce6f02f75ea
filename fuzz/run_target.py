"""Child process of the runner: ``python -m fuzz.run_target TARGET [libFuzzer flags and corpus dirs]``.

The target and the project modules it reaches are imported under ``atheris.instrument_imports`` so
libFuzzer sees their branch coverage (third-party parsers are left uninstrumented: cheaper, and
their coverage is not what we are judged on).
"""

from __future__ import annotations

import sys

import atheris


def main() -> None:
    name = sys.argv[1]
    with atheris.instrument_imports(include=["vehicle_mw", "fuzz"]):
        from fuzz.harness import load_target

        target = load_target(name)
    expected = target.EXPECTED

    def test_one_input(data: bytes) -> None:
        try:
            target.one_input(data)
        except expected:
            pass

    atheris.Setup([sys.argv[0], *sys.argv[2:]], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
