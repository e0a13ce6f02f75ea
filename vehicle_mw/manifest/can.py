"""CAN buses and signal databases as declared in the machine manifest (``can:`` section).

The machine manifest holds a list of :class:`CanBus`; a bus's position in that
list is its ``bus_id`` in every frame and sample record.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from vehicle_mw.manifest.loading import StrictModel

REPLAY = "replay"  # the interface name of a bus that replays a log file instead of reading hardware


class CanBus(StrictModel):
    """One CAN bus the runtime reads: any python-can interface by name."""

    name: str = Field(description="bus name used in logs, metrics and the signal catalog, e.g. 'pt'")
    interface: str = Field(
        "socketcan",
        description="python-can interface: socketcan, virtual, udp_multicast, ...; 'replay' replays 'file'",
    )
    channel: str | None = Field(
        None, description="interface channel, e.g. 'can0', or a virtual channel name (not for replay)"
    )
    file: str | None = Field(
        None, description="interface replay: the log to replay (asc, blf, trc, candump, csv, mf4), relative"
    )
    speed: float | None = Field(
        None,
        ge=0,
        description="interface replay: 1 (default) = the log's own timing, 2 = twice as fast, 0 = flat out",
    )
    loop: bool | None = Field(
        None, description="interface replay: start over at the end of the log (default false)"
    )
    bitrate: int | None = Field(
        None, gt=0, description="nominal bitrate in bit/s (where the interface sets it)"
    )
    fd: bool = Field(False, description="CAN FD bus")
    max_latency_ms: float = Field(
        20.0,
        gt=0,
        le=1000,
        description="longest a received frame waits before it is in the frame ring: the reader drains the "
        "bus once per window of this length while traffic flows (lower = less latency, more CPU per frame)",
    )
    data_bitrate: int | None = Field(None, gt=0, description="CAN FD data-phase bitrate in bit/s")
    databases: list[str] = Field(
        default_factory=list, description="DBC/ARXML/KCD/SYM files decoding this bus"
    )
    strict: bool = Field(
        True, description="load the databases with cantools' strict checks (overlapping signals are errors)"
    )
    j1939: bool = Field(
        False,
        description="match every extended-id message by J1939 PGN (priority and source address masked); "
        "messages whose database says protocol J1939 are matched that way anyway",
    )
    vss: dict[str, str] = Field(
        default_factory=dict, description="'Message.Signal' -> VSS path, e.g. 'Vehicle.Speed'"
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="extra keyword arguments for python-can's Bus (interface specific)"
    )

    @model_validator(mode="after")
    def _source_given(self) -> CanBus:
        if self.interface == REPLAY:
            if not self.file:
                raise ValueError("interface replay needs 'file' (the log to replay)")
        elif self.channel is None:
            raise ValueError(f"interface {self.interface!r} needs 'channel'")
        else:
            for key in ("file", "speed", "loop"):
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' is only for interface replay")
        return self

    @property
    def is_replay(self) -> bool:
        return self.interface == REPLAY


__all__ = ["REPLAY", "CanBus"]
