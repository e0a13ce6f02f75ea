"""``vmw info``: versions of vehicle_mw, its native core and its key dependencies."""

from __future__ import annotations

import argparse
import importlib.metadata as md


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="show versions of vehicle_mw and what it runs on")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vehicle_mw.native import lib

    print(f"vehicle_mw {md.version('vehicle_mw')}")
    print(f"native core: frame record {lib.vmw_can_frame_size()} B, sample record {lib.vmw_sample_size()} B")
    for dist in ("python-can", "cantools", "grpcio", "websockets", "protobuf", "someipy"):
        try:
            print(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            print(f"{dist} (not installed)")
    return 0
