"""The end-to-end demo behind ``make run`` / ``vmw demo``.

    import asyncio, pathlib
    from vehicle_mw.demo import DemoOptions, run_demo

    report = asyncio.run(run_demo(DemoOptions(pathlib.Path("demo-run"), duration_s=30)))
    print(report.samples, report.stored_samples, report.dashboard_url)

A real CAN trace (CSS Electronics GNSS/IMU recording, MIT; see ``data/ORIGIN.md``) is replayed at
its own timing through frame ring, native decoder, executor and durable outbox, and uplinked by
the negotiating channel to a local gateway on SQLite whose dashboard shows it live.
"""

from vehicle_mw.demo.app import DBC, TRACE, VEHICLE_ID, DemoOptions, DemoReport, run_demo

__all__ = ["DBC", "TRACE", "VEHICLE_ID", "DemoOptions", "DemoReport", "run_demo"]
