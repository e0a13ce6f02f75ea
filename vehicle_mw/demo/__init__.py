"""The end-to-end demo behind ``make run`` / ``vmw demo``.

    import asyncio, pathlib
    from vehicle_mw.demo import DemoOptions, run_demo

    report = asyncio.run(run_demo(DemoOptions(pathlib.Path("demo-run"), duration_s=60)))
    print(report.samples, report.stored_samples, report.switches, report.dashboard_url)

A real CAN trace (CSS Electronics GNSS/IMU recording, MIT; see ``data/ORIGIN.md``) is replayed by
the vehicle runtime (``vehicle_mw.runtime``, built from the machine and channel manifests the demo
writes into its workdir) and uplinked to a local gateway on SQLite whose dashboard shows it live;
a scripted impairment of the gRPC link moves the channel to WebSocket and back.
"""

from vehicle_mw.demo.app import DBC, TRACE, VEHICLE_ID, DemoOptions, DemoReport, run_demo
from vehicle_mw.demo.impairment import ImpairmentScript

__all__ = ["DBC", "TRACE", "VEHICLE_ID", "DemoOptions", "DemoReport", "ImpairmentScript", "run_demo"]
