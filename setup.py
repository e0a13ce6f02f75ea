"""Build hooks: compile native/ with cffi and generate the protocol code from proto/.

Everything else about the package lives in pyproject.toml.
"""

from __future__ import annotations

import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent
PROTOCOL_PACKAGE = "vehicle_mw.v1"


def generate_protocol() -> None:
    """Compile proto/**/*.proto into vehicle_mw/v1 (messages and gRPC stubs)."""
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT / 'proto'}",
        f"-I{include}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {protos}")
    init = ROOT / "vehicle_mw" / "v1" / "__init__.py"
    init.write_text('"""Generated from proto/vehicle_mw/v1 by setup.py; do not edit."""\n')


class BuildPyWithProtocol(build_py):
    def run(self) -> None:
        generate_protocol()
        # the package list was found before vehicle_mw/v1 existed (a fresh clone has no generated
        # code): without this a wheel built from a clean tree lacks the protocol package
        if self.packages is not None and PROTOCOL_PACKAGE not in self.packages:
            self.packages.append(PROTOCOL_PACKAGE)
        super().run()


if __name__ == "__main__":  # importable by `make proto` without running setup()
    setup(
        cffi_modules=["native/build_ffi.py:ffibuilder"],
        cmdclass={"build_py": BuildPyWithProtocol},
    )
