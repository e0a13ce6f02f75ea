"""Runs inside a network namespace: a local gateway and the vehicle runtime consuming one SOME/IP
service (``python someip_vehicle.py FOLDER SERVICE_MANIFEST IP``). Prints ``ready`` once running;
stops when stdin closes. The test reads the gateway's SQLite file from outside the namespace."""

from __future__ import annotations

import pathlib
import sys

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from runtime_rig import LocalGateway, write_manifests  # noqa: E402

from vehicle_mw.runtime import VehicleRuntime  # noqa: E402


def main() -> None:
    folder, service, ip = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    with LocalGateway(folder) as gw:
        machine, channel = write_manifests(folder / "m", gw, [], deployment="t-someip", someip=[service])
        data = yaml.safe_load(machine.read_text())
        data["network"] = [{"name": "someip", "address": ip}]
        machine.write_text(yaml.safe_dump(data))
        rt = VehicleRuntime.from_manifests(machine, channel).start()
        try:
            print("ready", flush=True)
            sys.stdin.readline()
        finally:
            rt.stop()


if __name__ == "__main__":
    main()
