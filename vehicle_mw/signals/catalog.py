"""The signal catalog: every decodable signal of every bus, with a stable numeric id.

Ids are assigned deterministically: buses in manifest order (bus id), then
messages by name, then signals by name, counting from 1 (0 is never a signal).
The same manifest and databases therefore give the same ids on every ECU and
in the cloud, and :attr:`SignalCatalog.hash` (sha256 of a canonical JSON form
of ids, names, units, VSS paths, choices and bit layouts) lets both ends check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from vehicle_mw.manifest.can import CanBus, IsoTpLink
from vehicle_mw.signals.database import load_database
from vehicle_mw.signals.errors import DatabaseError
from vehicle_mw.signals.layout import (
    SignalLayout,
    UnsupportedLayout,
    decode_order,
    mux_structure,
    signal_layout,
)

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 64  # CAN FD
MAX_FRAME_ID = 0x1FFFFFFF  # 29-bit extended id

MAX_TRANSPORT_BYTES = (
    4095  # longest message a bus with transport reassembly decodes (native VMW_DEC_MAX_MESSAGE)
)

# J1939-21: a PGN is EDP, DP, PF and -- only for PDU2 (PF >= 240) -- PS. In PDU1 (PF < 240) the PS byte
# is the destination address, so it is masked like priority and source address.
J1939_MASK = 0x03FFFF00  # PDU2: id bits of EDP, DP, PF, PS
J1939_PDU1_MASK = 0x03FF0000  # PDU1: id bits of EDP, DP, PF
J1939_DA_SIGNAL = "$da"  # the destination address of a PDU1 message, a signal taken from the CAN id


def j1939_pgn_bits(frame_id: int) -> int:
    """The id bits a J1939 message is matched by (``frame_id & mask``, mask by PDU format)."""
    return frame_id & (J1939_PDU1_MASK if (frame_id >> 16) & 0xFF < 240 else J1939_MASK)


def j1939_pgn(frame_id: int) -> int:
    """The parameter group number of a 29-bit id (J1939-21: 18 bits, PS zero for PDU1)."""
    return j1939_pgn_bits(frame_id) >> 8


def j1939_is_pdu1(frame_id: int) -> bool:
    return (frame_id >> 16) & 0xFF < 240


_DA_LAYOUT = SignalLayout(
    start=8,
    length=8,
    big_endian=False,
    signed=False,
    is_float=False,
    conversion="identity",
    scale=1,
    offset=0,
    choice=False,
    mux_parent=None,
    mux_ids=(),
)


@dataclass(frozen=True)
class SignalInfo:
    """One signal of the catalog."""

    id: int
    bus_id: int
    bus: str
    message: str
    signal: str
    unit: str
    vss: str | None
    choices: Mapping[int, str] | None
    frame_id: int
    extended: bool
    layout: SignalLayout = field(repr=False)
    from_id: bool = False  # True: bits start..start+length of the CAN id (J1939 destination address)

    @property
    def name(self) -> str:
        """``Message.Signal``."""
        return f"{self.message}.{self.signal}"

    @property
    def kind(self) -> str:
        """float, int, uint or bool (the sample's value kind)."""
        return self.layout.kind


@dataclass(frozen=True)
class MessageEntry:
    """One decodable message of one bus, its signals in decode order (multiplexers first)."""

    bus_id: int
    frame_id: int
    extended: bool
    j1939: bool
    length: int
    name: str
    signals: tuple[SignalInfo, ...]
    cantools: object = field(repr=False, compare=False)  # cantools Message, for tools and tests


@dataclass(frozen=True)
class BusDatabases:
    """What one bus decodes with: resolved database files and how to load/match them."""

    bus_id: int
    name: str
    databases: tuple[pathlib.Path, ...]
    strict: bool = True
    j1939: bool = False
    vss: Mapping[str, str] = field(default_factory=dict)
    j1939_tp: bool = False  # J1939 TP.CM/TP.DT reassembly (vehicle_mw.can.j1939_tp)
    isotp: tuple[IsoTpLink, ...] = ()  # ISO-TP connections (vehicle_mw.can.isotp)
    transport_sessions: int = 32

    @property
    def has_transport(self) -> bool:
        return self.j1939_tp or bool(self.isotp)

    @property
    def max_message_bytes(self) -> int:
        """Longest database message decoded: a frame's 64 bytes, or reassembled messages' 4095."""
        return MAX_TRANSPORT_BYTES if self.has_transport else MAX_FRAME_BYTES


class SignalCatalog:
    """All signals of all buses; look-ups by id and name, labels of enumerated values."""

    def __init__(self, buses: Sequence[BusDatabases], messages: Sequence[MessageEntry]):
        self.buses = tuple(buses)
        self.messages = tuple(messages)
        self.signals: tuple[SignalInfo, ...] = tuple(
            sorted((s for m in messages for s in m.signals), key=lambda s: s.id)
        )
        self._by_id = {s.id: s for s in self.signals}
        self._by_name: dict[str, list[SignalInfo]] = {}
        for s in self.signals:
            self._by_name.setdefault(s.name, []).append(s)
        self.hash = hashlib.sha256(self.canonical().encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.signals)

    def __iter__(self):
        return iter(self.signals)

    def by_id(self, signal_id: int) -> SignalInfo:
        return self._by_id[signal_id]

    def find(self, name: str, bus: str | int | None = None) -> SignalInfo:
        """The signal called ``Message.Signal`` (on ``bus`` when several buses carry that name)."""
        found = [s for s in self._by_name.get(name, ()) if bus is None or bus in (s.bus, s.bus_id)]
        if not found:
            raise KeyError(f"no signal {name!r}" + (f" on bus {bus!r}" if bus is not None else ""))
        if len(found) > 1:
            raise KeyError(f"signal {name!r} exists on buses {[s.bus for s in found]}; name the bus")
        return found[0]

    def label(self, signal_id: int, raw: int) -> str | None:
        """Choice label of an enumerated signal's raw value, or None."""
        choices = self._by_id[signal_id].choices
        return choices.get(int(raw)) if choices else None

    def rows(self) -> list[tuple[int, str, str, str | None, str, dict[int, str] | None]]:
        """(id, name, unit, vss, kind, choices) per signal, by id: what a channel's Hello lists."""
        return [
            (s.id, s.name, s.unit, s.vss, s.kind, dict(s.choices) if s.choices else None)
            for s in self.signals
        ]

    def canonical(self) -> str:
        """Canonical JSON text the catalog hash is computed over."""
        items = [
            {
                "id": s.id,
                "bus": s.bus,
                "bus_id": s.bus_id,
                "name": s.name,
                "unit": s.unit,
                "vss": s.vss,
                "kind": s.kind,
                "choices": {str(k): str(v) for k, v in sorted(s.choices.items())} if s.choices else None,
                "frame_id": s.frame_id,
                "extended": s.extended,
                "layout": s.layout.canonical() | ({"from": "can_id"} if s.from_id else {}),
            }
            for s in self.signals
        ]
        return json.dumps(items, sort_keys=True, separators=(",", ":"))


def _as_buses(
    databases, *, strict: bool, j1939: bool, vss: Mapping[str, str] | None, base_dir: pathlib.Path | None
) -> list[BusDatabases]:
    def resolve(p: str | pathlib.Path) -> pathlib.Path:
        p = pathlib.Path(p)
        return p if p.is_absolute() or base_dir is None else base_dir / p

    if isinstance(databases, (str, pathlib.Path)):
        databases = [databases]
    items = list(databases)
    if items and all(isinstance(b, CanBus) for b in items):
        return [
            BusDatabases(
                i,
                b.name,
                tuple(resolve(p) for p in b.databases),
                b.strict,
                b.j1939,
                dict(b.vss),
                j1939_tp=b.j1939_tp,
                isotp=tuple(b.isotp),
                transport_sessions=b.transport_sessions,
            )
            for i, b in enumerate(items)
        ]
    if all(isinstance(p, (str, pathlib.Path)) for p in items):
        return [BusDatabases(0, "can0", tuple(resolve(p) for p in items), strict, j1939, dict(vss or {}))]
    raise TypeError("databases must be a path, a list of paths, or a list of CanBus")


def _bus_messages(bus: BusDatabases) -> dict[str, object]:
    """Every non-container message of the bus's databases by name (first definition wins)."""
    messages = {}
    for path in bus.databases:
        for msg in load_database(path, strict=bus.strict).messages:
            if msg.is_container:
                log.info("%s: container message %s is not decoded", path, msg.name)
            elif not 0 <= msg.length <= bus.max_message_bytes:  # cantools takes e.g. a DLC of -8
                log.warning(
                    "%s: message %s has length %s, not %s's 0..%d bytes; not decoded",
                    path,
                    msg.name,
                    msg.length,
                    "a reassembled message" if bus.has_transport else "a CAN frame",
                    bus.max_message_bytes,
                )
            elif not 0 <= msg.frame_id <= MAX_FRAME_ID:
                log.warning(
                    "%s: message %s has frame id %s, not a CAN id (0..0x1FFFFFFF); not decoded",
                    path,
                    msg.name,
                    msg.frame_id,
                )
            elif msg.name in messages:
                log.warning("%s: message %s already defined by an earlier database; ignored", path, msg.name)
            else:
                messages[msg.name] = msg
    return messages


def _message_layouts(bus: BusDatabases, msg) -> dict[str, SignalLayout]:
    """Layouts of the message's decodable signals; the others are logged with the reason."""
    decoded = mux_structure(msg)
    names = [sig.name for sig in msg.signals]
    layouts: dict[str, SignalLayout] = {}
    skipped = []
    for sig in msg.signals:
        if names.count(sig.name) > 1:
            skipped.append(f"{sig.name} (name used twice)")
        elif sig.name not in decoded:
            skipped.append(f"{sig.name} (cantools does not decode it)")
        else:
            try:
                layout = signal_layout(sig, *decoded[sig.name])
            except UnsupportedLayout as exc:
                skipped.append(f"{sig.name} ({exc})")
                continue
            if layout.last_byte() >= msg.length:
                skipped.append(f"{sig.name} (outside the {msg.length}-byte frame)")
            else:
                layouts[sig.name] = layout
    if skipped:
        log.info("bus %s: %s: signals not decoded: %s", bus.name, msg.name, ", ".join(sorted(set(skipped))))
    return layouts


def _message_entry(bus: BusDatabases, msg, layouts: dict[str, SignalLayout], first_id: int) -> MessageEntry:
    """Catalog entry of one message; its signals get ids from ``first_id`` in name order."""
    infos = {}
    for i, name in enumerate(sorted(layouts)):
        sig = msg.get_signal_by_name(name)
        infos[name] = SignalInfo(
            id=first_id + i,
            bus_id=bus.bus_id,
            bus=bus.name,
            message=msg.name,
            signal=name,
            unit=sig.unit or "",
            vss=bus.vss.get(f"{msg.name}.{name}"),
            choices={int(k): str(v) for k, v in sig.choices.items()} if sig.choices else None,
            frame_id=msg.frame_id,
            extended=bool(msg.is_extended_frame),
            layout=layouts[name],
        )
    j1939 = bool(msg.is_extended_frame) and (bus.j1939 or (msg.protocol or "").lower() == "j1939")
    return MessageEntry(
        bus_id=bus.bus_id,
        frame_id=msg.frame_id,
        extended=bool(msg.is_extended_frame),
        j1939=j1939,
        length=msg.length,
        name=msg.name,
        signals=tuple(infos[n] for n in decode_order(layouts)),
        cantools=msg,
    )


def _message_entries(bus: BusDatabases, next_id: int) -> tuple[list[MessageEntry], int]:
    """All catalog entries of one bus, and the next free signal id."""
    entries = []
    messages = _bus_messages(bus)
    for name in sorted(messages):
        layouts = _message_layouts(bus, messages[name])
        entries.append(_message_entry(bus, messages[name], layouts, next_id))
        next_id += len(layouts)
    known = {s.name for e in entries for s in e.signals}
    unknown = sorted(set(bus.vss) - known)
    if unknown:
        raise DatabaseError(
            f"bus {bus.name!r}: vss maps signals no database of this bus decodes: {', '.join(unknown)}"
        )
    return entries, next_id


def _drop_clashing_ids(entries: list[MessageEntry]) -> list[MessageEntry]:
    """One message per (bus, id) -- and per (bus, PGN) in J1939 mode; later ones are logged and dropped."""
    seen: dict[tuple, str] = {}
    kept = []
    for e in entries:
        key = (e.bus_id, "pgn", j1939_pgn_bits(e.frame_id)) if e.j1939 else (e.bus_id, e.extended, e.frame_id)
        if key in seen:
            log.warning("bus %d: message %s has the same id as %s; ignored", e.bus_id, e.name, seen[key])
            continue
        seen[key] = e.name
        kept.append(e)
    return kept


def load_catalog(
    databases: str | pathlib.Path | Iterable[str | pathlib.Path] | Iterable[CanBus],
    *,
    strict: bool = True,
    j1939: bool = False,
    vss: Mapping[str, str] | None = None,
    base_dir: str | pathlib.Path | None = None,
    errors: dict[int, DatabaseError] | None = None,
) -> SignalCatalog:
    """Build the catalog from database files (one bus, id 0) or from the manifest's ``CanBus`` list.

    ``strict``, ``j1939`` and ``vss`` apply to the plain-path form; a ``CanBus``
    carries its own. Relative paths are taken from ``base_dir`` (the manifest's folder).
    With ``errors`` (a dict), a bus whose databases fail is recorded there (bus id -> error) and
    decodes nothing, so one bad database does not stop the other buses; without it the error raises.
    """
    base = pathlib.Path(base_dir) if base_dir is not None else None
    buses = _as_buses(databases, strict=strict, j1939=j1939, vss=vss, base_dir=base)
    entries: list[MessageEntry] = []
    next_id = 1
    for bus in buses:
        try:
            bus_entries, next_id = _message_entries(bus, next_id)
        except DatabaseError as exc:
            if errors is None:
                raise
            errors[bus.bus_id] = exc
            continue
        entries.extend(bus_entries)
    names = {b.bus_id: b.name for b in buses}
    return SignalCatalog(buses, _with_destination_addresses(_drop_clashing_ids(entries), next_id, names))


def _with_destination_addresses(
    entries: list[MessageEntry], next_id: int, bus_names: Mapping[int, str]
) -> list[MessageEntry]:
    """Every J1939 PDU1 message gets a ``$da`` signal: the destination address from its frame's id.

    Its ids come after every database signal of every bus, so adding them moved no other id."""
    out = []
    for e in entries:
        if e.j1939 and j1939_is_pdu1(e.frame_id):
            sig = SignalInfo(
                id=next_id,
                bus_id=e.bus_id,
                bus=bus_names[e.bus_id],
                message=e.name,
                signal=J1939_DA_SIGNAL,
                unit="",
                vss=None,
                choices=None,
                frame_id=e.frame_id,
                extended=True,
                layout=_DA_LAYOUT,
                from_id=True,
            )
            next_id += 1
            e = dataclasses.replace(e, signals=(*e.signals, sig))
        out.append(e)
    return out


__all__ = [
    "J1939_DA_SIGNAL",
    "J1939_MASK",
    "J1939_PDU1_MASK",
    "MAX_TRANSPORT_BYTES",
    "BusDatabases",
    "MessageEntry",
    "SignalCatalog",
    "SignalInfo",
    "j1939_pgn",
    "j1939_pgn_bits",
    "load_catalog",
]
