"""CAN buses and signal databases as declared in the machine manifest (``can:`` section)."""

from __future__ import annotations

from pydantic import Field

from vehicle_mw.manifest.loading import StrictModel


class CanBus(StrictModel):
    """One CAN bus the runtime reads: any python-can interface by name."""

    name: str = Field(description="bus name used in logs, metrics and the signal catalog, e.g. 'pt'")
    interface: str = Field("socketcan", description="python-can interface: socketcan, virtual, udp_multicast, ...")
    channel: str = Field(description="interface channel, e.g. 'can0', or a virtual channel name")
    bitrate: int | None = Field(None, gt=0, description="nominal bitrate in bit/s (where the interface sets it)")
    fd: bool = Field(False, description="CAN FD bus")
    data_bitrate: int | None = Field(None, gt=0, description="CAN FD data-phase bitrate in bit/s")
    databases: list[str] = Field(default_factory=list, description="DBC/ARXML/KCD/SYM files decoding this bus")


__all__ = ["CanBus"]
