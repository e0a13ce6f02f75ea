"""CAN buses and signal databases as declared in the machine manifest (``can:`` section).

The machine manifest holds a list of :class:`CanBus`; a bus's position in that
list is its ``bus_id`` in every frame and sample record.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from vehicle_mw.manifest.loading import StrictModel

REPLAY = "replay"  # the interface name of a bus that replays a log file instead of reading hardware
ISOTP_MAX_BYTES = 4095  # longest ISO-TP message decoded by default (12-bit FF_DL; the escape allows more)


class IsoTpLink(StrictModel):
    """One ISO 15765-2 (ISO-TP) connection on a bus, normal addressing: two CAN ids, one per direction.

    Messages on either id are reassembled (single, first and consecutive frames; flow control is read
    from the other id) and decoded with the database message of the id they travel on."""

    request_id: int = Field(ge=0, le=0x1FFFFFFF, description="id the tester / client sends on, e.g. 0x7E0")
    response_id: int = Field(ge=0, le=0x1FFFFFFF, description="id the ECU answers on, e.g. 0x7E8")
    extended: bool = Field(False, description="29-bit ids (default 11-bit)")
    max_bytes: int = Field(
        ISOTP_MAX_BYTES,
        ge=1,
        le=1 << 20,
        description="longest message reassembled (first frames announcing more are counted and ignored)",
    )

    @model_validator(mode="after")
    def _ids(self) -> IsoTpLink:
        if self.request_id == self.response_id:
            raise ValueError("request_id and response_id must differ")
        if not self.extended and max(self.request_id, self.response_id) > 0x7FF:
            raise ValueError("an 11-bit id is at most 0x7FF (set extended: true for 29-bit ids)")
        return self


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
    j1939_tp: bool = Field(
        False,
        description="reassemble J1939 transport-protocol messages (TP.CM/TP.DT: BAM and RTS/CTS, up to 1785 "
        "bytes, e.g. DM1 or VIN) and decode them like single frames",
    )
    isotp: list[IsoTpLink] = Field(
        default_factory=list, description="ISO-TP connections whose messages are reassembled and decoded"
    )
    transport_sessions: int = Field(
        32,
        ge=1,
        le=4096,
        description="per protocol, the most transport sessions reassembled at once on this bus (more are "
        "counted and ignored)",
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
        seen: dict[tuple[bool, int], int] = {}
        for i, link in enumerate(self.isotp):
            for can_id in (link.request_id, link.response_id):
                other = seen.get((link.extended, can_id))
                if other is not None:
                    raise ValueError(f"isotp[{i}]: id {can_id:#x} is already used by isotp[{other}]")
                seen[(link.extended, can_id)] = i
        return self

    @property
    def has_transport(self) -> bool:
        """Whether frames of this bus go through J1939 TP or ISO-TP reassembly before decoding."""
        return self.j1939_tp or bool(self.isotp)

    @property
    def is_replay(self) -> bool:
        return self.interface == REPLAY


__all__ = ["ISOTP_MAX_BYTES", "REPLAY", "CanBus", "IsoTpLink"]
