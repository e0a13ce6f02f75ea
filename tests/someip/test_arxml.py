"""ARXML service interfaces + SOME/IP deployments (franca_ara_tools samples) -> valid manifests."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.someip.conftest import ROOT
from vehicle_mw.manifest import ManifestError, load_manifest, parse_manifest
from vehicle_mw.manifest.someip import SomeIpService
from vehicle_mw.someip.arxml import ArxmlError, import_arxml
from vehicle_mw.someip.codec import build_codec


@pytest.fixture
def franca(shared_data):
    folder = shared_data / "franca_ara_tools"

    def files(name: str) -> list:
        return [
            folder / f"{name}.arxml",
            folder / f"{name}_Deployment.arxml",
            folder / "stdtypes.arxml",
            folder / "stdtypes_vectors.arxml",
        ]

    return files


def _service(franca, name: str) -> SomeIpService:
    (data,) = import_arxml(franca(name))
    return parse_manifest(data, SomeIpService)


def test_fields_with_getter_setter_notifier(franca):
    svc = _service(franca, "Attributes")
    fields = {f.name: f for f in svc.fields}
    assert {n: f.type for n, f in fields.items()} == {
        "boolAttr": "bool",
        "enumAttr": "uint8",
        "int16Attr": "int16",
        "int8Attr": "int8",
    }
    assert (fields["boolAttr"].getter, fields["boolAttr"].setter, fields["boolAttr"].notifier) == (
        6,
        7,
        0x8000 | 12338,
    )
    assert fields["boolAttr"].protocol == "tcp"


def test_methods_with_in_and_out_arguments(franca):
    svc = _service(franca, "Method")
    method = next(m for m in svc.methods if m.id == 1234)
    request = build_codec(method.request, svc.types)
    assert request.encode({"input_argument_1": 1, "input_argument_2": 2}) == bytes.fromhex(
        "0000000100 02".replace(" ", "")
    )
    assert [m.name for m in method.response.struct] == [
        "output_argument_3",
        "output_argument_1",
        "output_argument_2",
    ]


def test_eventgroups_and_event_ids(franca):
    svc = _service(franca, "EventGroup")
    assert svc.service_id == 1234 and [e.id for e in svc.events] == [0x8000 | 20000]
    groups = {g.id: g.events for g in svc.eventgroups}
    assert groups[30000] == [0x8000 | 20000] and groups[33000] == []


def test_inconsistent_arxml_is_reported_not_written(franca, tmp_path):
    (data,) = import_arxml(franca("Strings"))
    with pytest.raises(ManifestError, match="duplicate method ids"):
        parse_manifest(data, SomeIpService)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "someip",
            "import-arxml",
            *map(str, franca("Strings")),
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 1 and "duplicate method ids" in out.stderr and not list(tmp_path.glob("*.yaml"))


def test_cli_writes_loadable_manifests(franca, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_mw",
            "someip",
            "import-arxml",
            *map(str, franca("Attributes")),
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    (path,) = tmp_path.glob("*.yaml")
    assert load_manifest(path, SomeIpService).name == "AttributeInterface"


def test_missing_reference_names_file_and_path(franca):
    with pytest.raises(ArxmlError, match="not found"):
        import_arxml(franca("Attributes")[1:2])  # deployment without its interface
