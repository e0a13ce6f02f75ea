"""Signal catalog: deterministic ids, hash, VSS mapping, labels, database errors."""

from __future__ import annotations

import pathlib

import pytest

from vehicle_mw.errors import VehicleMwError
from vehicle_mw.manifest.can import CanBus
from vehicle_mw.signals import DatabaseError, load_catalog, load_database

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
PRIUS = DATA / "opendbc" / "toyota_prius_2010_pt.dbc"
MUX = DATA / "cantools" / "multiplex_2.dbc"


def test_ids_follow_bus_message_signal_name_order_from_one():
    catalog = load_catalog(PRIUS)
    keys = [(s.bus_id, s.message, s.signal) for s in catalog.signals]
    assert keys == sorted(keys)
    assert [s.id for s in catalog.signals] == list(range(1, len(catalog) + 1))


def test_same_inputs_give_same_ids_and_hash():
    a, b = load_catalog(PRIUS), load_catalog(str(PRIUS))
    assert a.hash == b.hash and len(a.hash) == 64
    assert a.rows() == b.rows()


def test_hash_changes_with_vss_mapping_and_databases():
    plain = load_catalog(PRIUS)
    name = plain.signals[0].name
    mapped = load_catalog(PRIUS, vss={name: "Vehicle.Test"})
    assert mapped.hash != plain.hash
    assert mapped.find(name).vss == "Vehicle.Test"
    assert load_catalog([PRIUS, MUX]).hash != plain.hash


def test_several_buses_from_manifest_entries():
    buses = [
        CanBus(name="pt", interface="virtual", channel="a", databases=[PRIUS.name]),
        CanBus(name="body", interface="virtual", channel="b", databases=[MUX.name]),
    ]
    catalog = load_catalog(buses[:1], base_dir=PRIUS.parent)
    both = load_catalog(
        [
            buses[0].model_copy(update={"databases": [str(PRIUS)]}),
            buses[1].model_copy(update={"databases": [str(MUX)]}),
        ]
    )
    assert {s.bus for s in both.signals} == {"pt", "body"}
    assert max(s.id for s in both.signals if s.bus == "pt") < min(
        s.id for s in both.signals if s.bus == "body"
    )
    assert [s.name for s in both.signals if s.bus == "pt"] == [s.name for s in catalog.signals]


def test_rows_and_labels():
    catalog = load_catalog(PRIUS)
    enum = next(s for s in catalog.signals if s.choices)
    raw, label = next(iter(enum.choices.items()))
    assert catalog.label(enum.id, raw) == label
    row = catalog.rows()[enum.id - 1]
    assert row[:2] == (enum.id, enum.name) and row[5] == dict(enum.choices)
    with pytest.raises(KeyError):
        catalog.find("No.Such")


def test_rejected_database_names_file_and_reason(tmp_path):
    bad = tmp_path / "broken.dbc"
    bad.write_text('VERSION ""\nBO_ 1 M: 8 X\n SG_ S : 70|16@1+ (1,0) [0|0] "" X\n')
    with pytest.raises(DatabaseError) as exc:
        load_database(bad)
    assert "broken.dbc" in str(exc.value) and "cantools" in str(exc.value)
    assert isinstance(exc.value, VehicleMwError)
    with pytest.raises(DatabaseError, match="not found"):
        load_catalog(tmp_path / "missing.dbc")


def test_strict_loading_is_configurable(shared_data):
    dbc = shared_data / "opendbc" / "dbc" / "hyundai_i30_2014.dbc"
    with pytest.raises(DatabaseError, match="hyundai_i30_2014.dbc"):
        load_catalog(dbc, strict=True)
    assert len(load_catalog(dbc, strict=False)) > 100


def test_arxml_fd_messages_are_kept_and_containers_left_out():
    catalog = load_catalog(DATA / "cantools" / "system-4.2.arxml")
    assert any(m.length > 8 for m in catalog.messages)
    assert not any(m.cantools.is_container for m in catalog.messages)
    assert any(m.is_container for m in load_database(DATA / "cantools" / "system-4.2.arxml").messages)


def test_vss_mapping_of_an_unknown_signal_is_an_error():
    with pytest.raises(DatabaseError, match="No_Such.Signal"):
        load_catalog(PRIUS, vss={"No_Such.Signal": "Vehicle.Speed"})
