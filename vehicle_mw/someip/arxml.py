"""Service-instance manifests from AUTOSAR ARXML (service interfaces + SOME/IP deployments).

cantools reads no SOME/IP service content from ARXML; this reads what a manifest
needs: ``SOMEIP-SERVICE-INTERFACE-DEPLOYMENT`` (service id, event/method/field ids,
eventgroups, transport protocols), the ``SERVICE-INTERFACE`` it deploys (events,
methods with their IN/OUT arguments, fields with getter/setter/notifier) and the
data types behind them (application types through ``DATA-TYPE-MAP`` to
implementation types: VALUE over ``SW-BASE-TYPE``, TYPE_REFERENCE, STRUCTURE,
ARRAY/VECTOR, STRING). Network endpoints are not part of an interface deployment:
they get placeholders to be set per machine.
"""

from __future__ import annotations

import pathlib
import re
import xml.etree.ElementTree as ET
from typing import Any

from vehicle_mw.errors import VehicleMwError


class ArxmlError(VehicleMwError):
    """ARXML that cannot be turned into a manifest; the message names the file and element."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _text(el: ET.Element | None, name: str, default: str | None = None) -> str | None:
    c = _child(el, name) if el is not None else None
    return c.text.strip() if c is not None and c.text else default


def _all(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el.iter() if _local(c.tag) == name]


class _Index:
    """Every element with a SHORT-NAME, by its AUTOSAR path, over all files."""

    def __init__(self, paths: list[pathlib.Path]):
        self.by_path: dict[str, tuple[ET.Element, str]] = {}
        self.type_map: dict[str, str] = {}  # application type path -> implementation type path
        for path in paths:
            try:
                root = ET.parse(path).getroot()
            except (ET.ParseError, OSError) as exc:
                raise ArxmlError(f"{path}: cannot read ARXML: {exc}") from None
            self._walk(root, "", str(path))
            for m in _all(root, "DATA-TYPE-MAP"):
                app, impl = _text(m, "APPLICATION-DATA-TYPE-REF"), _text(m, "IMPLEMENTATION-DATA-TYPE-REF")
                if app and impl:
                    self.type_map[app] = impl

    def _walk(self, el: ET.Element, prefix: str, file: str) -> None:
        name = _text(el, "SHORT-NAME")
        if name is not None:
            prefix = f"{prefix}/{name}"
            self.by_path.setdefault(prefix, (el, file))
        for child in el:
            self._walk(child, prefix, file)

    def get(self, ref: str, where: str) -> tuple[ET.Element, str]:
        if ref not in self.by_path:
            raise ArxmlError(f"{where}: reference {ref} not found in the given ARXML files")
        return self.by_path[ref]


class _Types:
    """ARXML data types -> manifest types (named by their short name)."""

    def __init__(self, index: _Index):
        self.index = index
        self.named: dict[str, Any] = {}

    def ref(self, ref: str, where: str) -> Any:
        ref = self.index.type_map.get(ref, ref)
        el, _ = self.index.get(ref, where)
        kind = _local(el.tag)
        if kind == "APPLICATION-PRIMITIVE-DATA-TYPE":  # no DATA-TYPE-MAP: go by its name
            return self._by_name(_text(el, "SHORT-NAME") or "", ref)
        if kind != "IMPLEMENTATION-DATA-TYPE":
            raise ArxmlError(f"{ref}: a {kind} is not a data type this importer reads")
        return self._impl(el, ref)

    def _impl(self, el: ET.Element, where: str) -> Any:
        category = (_text(el, "CATEGORY") or "VALUE").upper()
        name = _text(el, "SHORT-NAME") or "T"
        props = _all(el, "SW-DATA-DEF-PROPS-CONDITIONAL")
        first = props[0] if props else None
        if category == "VALUE":
            base = _text(first, "BASE-TYPE-REF")
            if base is None:
                return self._by_name(name, where)
            return self._base(self.index.get(base, where)[0], base)
        if category in ("TYPE_REFERENCE", "DATA_REFERENCE"):
            target = _text(first, "IMPLEMENTATION-DATA-TYPE-REF")
            base = _text(first, "BASE-TYPE-REF")
            if target is not None:
                return self.ref(target, where)
            if base is not None:  # enumerations: a base type plus a COMPU-METHOD
                return self._base(self.index.get(base, where)[0], base)
            raise ArxmlError(f"{where}: TYPE_REFERENCE without a type or base type reference")
        if category == "STRING":
            return "string"
        subs = [
            c
            for c in (_child(el, "SUB-ELEMENTS") if _child(el, "SUB-ELEMENTS") is not None else [])
            if _local(c.tag) == "IMPLEMENTATION-DATA-TYPE-ELEMENT"
        ]
        if category == "STRUCTURE":
            members = [
                {"name": _text(s, "SHORT-NAME"), "type": self._impl(s, f"{where}/{_text(s, 'SHORT-NAME')}")}
                for s in subs
            ]
            if not members:
                raise ArxmlError(f"{where}: STRUCTURE without elements")
            if name not in self.named:
                self.named[name] = {"struct": members}
            return name
        if category in ("ARRAY", "VECTOR"):
            if len(subs) != 1:
                raise ArxmlError(f"{where}: {category} needs exactly one element, has {len(subs)}")
            element = self._impl(subs[0], f"{where}/{_text(subs[0], 'SHORT-NAME')}")
            size = _text(subs[0], "ARRAY-SIZE")
            fixed = (
                _text(subs[0], "ARRAY-SIZE-SEMANTICS") or "FIXED-SIZE"
            ) == "FIXED-SIZE" and category == "ARRAY"
            if fixed and size:
                return {"array": element, "length": int(size)}
            return {"array": element, "length_field_size": 4}
        raise ArxmlError(f"{where}: data type category {category} is not supported")

    def _base(self, el: ET.Element, where: str) -> str:
        native = (_text(el, "NATIVE-DECLARATION") or "").removeprefix("std::")
        if native:  # the C++ type is the most reliable hint (tools leave ENCODING at NONE for signed types)
            try:
                return self._by_name(native, where)
            except ArxmlError:
                pass
        size = int(_text(el, "BASE-TYPE-SIZE", "0") or 0)
        encoding = (_text(el, "BASE-TYPE-ENCODING", "NONE") or "NONE").upper()
        if encoding in ("BOOLEAN",):
            return "bool"
        if encoding == "IEEE754" and size in (32, 64):
            return f"float{size}"
        if encoding in ("2C", "1C", "SM") and size in (8, 16, 32, 64):
            return f"int{size}"
        if encoding == "NONE" and size in (8, 16, 32, 64):
            return "bool" if "bool" in (_text(el, "SHORT-NAME") or "").lower() else f"uint{size}"
        if encoding.startswith("UTF"):
            return "string"
        raise ArxmlError(f"{where}: base type {encoding}/{size} bits has no SOME/IP equivalent here")

    @staticmethod
    def _by_name(name: str, where: str) -> str:
        n = name.lower().removeprefix("adt_").removeprefix("std_").removesuffix("_t")
        m = re.fullmatch(r"(u?)int(8|16|32|64)", n)
        if m:
            return f"{'uint' if m.group(1) else 'int'}{m.group(2)}"
        table = {
            "boolean": "bool",
            "bool": "bool",
            "float": "float32",
            "double": "float64",
            "string": "string",
        }
        if n in table:
            return table[n]
        raise ArxmlError(f"{where}: cannot tell the SOME/IP type of {name!r}")


def _protocol(el: ET.Element | None) -> str:
    return "tcp" if (_text(el, "TRANSPORT-PROTOCOL") or "UDP").upper() == "TCP" else "udp"


def _event_id(raw: str) -> int:
    value = int(raw, 0)
    return value if value >= 0x8000 else value | 0x8000  # ARXML often gives the id without the event bit


def import_arxml(paths: list[str | pathlib.Path]) -> list[dict[str, Any]]:
    """One manifest (as a dict, ready for YAML) per SOME/IP service interface deployment found."""
    index = _Index([pathlib.Path(p) for p in paths])
    manifests = []
    for path, (dep, file) in sorted(index.by_path.items()):
        if _local(dep.tag) != "SOMEIP-SERVICE-INTERFACE-DEPLOYMENT":
            continue
        where = f"{file}: {path}"
        iface_ref = _text(dep, "SERVICE-INTERFACE-REF")
        if iface_ref is None:
            raise ArxmlError(f"{where}: no SERVICE-INTERFACE-REF")
        iface, _ = index.get(iface_ref, where)
        types = _Types(index)
        version = _child(dep, "SERVICE-INTERFACE-VERSION")
        manifest: dict[str, Any] = {
            "name": _text(iface, "SHORT-NAME"),
            "service_id": int(_text(dep, "SERVICE-INTERFACE-ID", "0") or 0),
            "instance_id": 1,
            "major_version": int(_text(version, "MAJOR-VERSION", "1") or 1),
            "minor_version": int(_text(version, "MINOR-VERSION", "0") or 0),
            "endpoint": {"port": 30509},  # placeholders: endpoints come from the machine, not the interface
            "consumer_endpoint": {"port": 40000},
            "events": [],
            "methods": [],
            "fields": [],
            "eventgroups": [],
        }
        event_ids: dict[str, int] = {}
        for ed in _all(dep, "SOMEIP-EVENT-DEPLOYMENT"):
            ev_ref = _text(ed, "EVENT-REF") or ""
            ev, _ = index.get(ev_ref, where)
            eid = _event_id(_text(ed, "EVENT-ID", "0") or "0")
            event_ids[f"{path}/{_text(ed, 'SHORT-NAME')}"] = eid
            manifest["events"].append(
                {
                    "id": eid,
                    "name": _text(ev, "SHORT-NAME"),
                    "protocol": _protocol(ed),
                    "type": types.ref(_text(ev, "TYPE-TREF") or "", ev_ref),
                }
            )
        for md in _all(dep, "SOMEIP-METHOD-DEPLOYMENT"):
            m_ref = _text(md, "METHOD-REF") or ""
            op, _ = index.get(m_ref, where)
            args = {"IN": [], "OUT": []}
            for arg in _all(op, "ARGUMENT-DATA-PROTOTYPE"):
                direction = (_text(arg, "DIRECTION") or "IN").upper()
                entry = {
                    "name": _text(arg, "SHORT-NAME"),
                    "type": types.ref(_text(arg, "TYPE-TREF") or "", m_ref),
                }
                args["OUT" if direction == "OUT" else "IN"].append(entry)
                if direction == "INOUT":
                    args["OUT"].append(entry)
            method: dict[str, Any] = {
                "id": int(_text(md, "METHOD-ID", "0") or 0),
                "name": _text(op, "SHORT-NAME"),
                "protocol": _protocol(md),
            }
            for key, direction in (("request", "IN"), ("response", "OUT")):
                if args[direction]:
                    method[key] = {"struct": args[direction]}
            manifest["methods"].append(method)
        for fd in _all(dep, "SOMEIP-FIELD-DEPLOYMENT"):
            f_ref = _text(fd, "FIELD-REF") or ""
            fld, _ = index.get(f_ref, where)
            getter, setter, notifier = _child(fd, "GET"), _child(fd, "SET"), _child(fd, "NOTIFIER")
            entry = {
                "name": _text(fld, "SHORT-NAME"),
                "type": types.ref(_text(fld, "TYPE-TREF") or "", f_ref),
                "protocol": _protocol(next((x for x in (getter, setter, notifier) if x is not None), None)),
            }
            if getter is not None:
                entry["getter"] = int(_text(getter, "METHOD-ID", "0") or 0)
            if setter is not None:
                entry["setter"] = int(_text(setter, "METHOD-ID", "0") or 0)
            if notifier is not None:
                entry["notifier"] = _event_id(_text(notifier, "EVENT-ID", "0") or "0")
                event_ids[f"{path}/{_text(fd, 'SHORT-NAME')}/{_text(notifier, 'SHORT-NAME')}"] = entry[
                    "notifier"
                ]
            manifest["fields"].append(entry)
        seen_groups: set[int] = set()
        for eg in _all(dep, "SOMEIP-EVENT-GROUP"):
            gid = int(_text(eg, "EVENT-GROUP-ID", "0") or 0)
            refs = [(r.text or "").strip() for r in _all(eg, "EVENT-REF")]
            ids = sorted({event_ids[r] for r in refs if r in event_ids})
            if gid in seen_groups:
                raise ArxmlError(f"{where}: eventgroup id {gid} appears twice")
            seen_groups.add(gid)
            manifest["eventgroups"].append({"id": gid, "events": ids})
        manifest["types"] = types.named
        manifests.append(manifest)
    if not manifests:
        raise ArxmlError(f"no SOMEIP-SERVICE-INTERFACE-DEPLOYMENT in {', '.join(map(str, paths))}")
    return manifests


__all__ = ["ArxmlError", "import_arxml"]
