"""Bad execution/machine manifests are rejected naming the file, the path inside it and the reason."""

from __future__ import annotations

import json
import pathlib

import pytest
import yaml
from exec_helpers import MACHINE, app

from vehicle_mw.exec import load_execution
from vehicle_mw.manifest import ManifestError
from vehicle_mw.manifest.execution import ExecutionManifest
from vehicle_mw.manifest.machine import MachineManifest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def write(tmp_path, applications, machine=None) -> pathlib.Path:
    (tmp_path / "machine.yaml").write_text(yaml.safe_dump(machine or MACHINE))
    path = tmp_path / "execution.yaml"
    path.write_text(yaml.safe_dump({"machine": "machine.yaml", "applications": applications}))
    return path


def problems(path) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as info:
        load_execution(path)
    assert info.value.file.endswith(".yaml")
    assert info.value.file in str(info.value)
    return info.value.problems


def test_unknown_key_is_an_error(tmp_path):
    bad = app("a", "steady")
    bad["restart"] = {"max_restarts": 3, "retries": 5}
    assert problems(write(tmp_path, [bad])) == [("applications[0].restart.retries", "unknown key")]


def test_entry_point_needs_exactly_one_kind(tmp_path):
    bad = app("a", "steady")
    bad["entry"] = {"function": "testapps:steady", "executable": "/bin/true"}
    [(where, reason)] = problems(write(tmp_path, [bad]))
    assert where == "applications[0].entry" and "exactly one of 'function' or 'executable'" in reason


def test_unknown_dependency_and_cycles(tmp_path):
    assert (
        "depends on unknown ['ghost']"
        in problems(write(tmp_path, [app("a", "steady", depends_on=["ghost"])]))[0][1]
    )
    cyc = [app("a", "steady", depends_on=["b"]), app("b", "steady", depends_on=["a"])]
    assert "dependency cycle: a -> b -> a" in problems(write(tmp_path, cyc))[0][1]


def test_states_and_groups_checked_against_the_machine(tmp_path):
    bad = [app("a", "steady", states=["Driving", "Flying"]), app("b", "steady")]
    bad[1]["function_group"] = "Nope"
    found = problems(write(tmp_path, bad))
    assert ("applications[0].states[1]", "'Flying' is not a state of 'Main'") in found
    assert ("applications[1].function_group", "unknown function group 'Nope'") in found


def test_bad_machine_manifest_names_its_own_file(tmp_path):
    machine = json.loads(json.dumps(MACHINE))
    machine["function_groups"][0]["colour"] = "red"
    with pytest.raises(ManifestError) as info:
        load_execution(write(tmp_path, [app("a", "steady")], machine))
    assert info.value.file.endswith("machine.yaml")
    assert info.value.problems == [("function_groups[0].colour", "unknown key")]
    del machine["function_groups"][0]["colour"]
    machine["function_groups"][0]["initial"] = "Flying"
    with pytest.raises(ManifestError) as info:
        load_execution(write(tmp_path, [app("a", "steady")], machine))
    [(where, reason)] = info.value.problems
    assert where == "function_groups[0]" and "initial state 'Flying' is not one of" in reason


def test_missing_machine_file(tmp_path):
    path = tmp_path / "execution.yaml"
    path.write_text(yaml.safe_dump({"machine": "nowhere.yaml", "applications": [app("a", "steady")]}))
    [(where, reason)] = problems(path)
    assert where == "machine" and "nowhere.yaml not found" in reason


def test_supervision_checkpoints_must_be_declared(tmp_path):
    sup = {"checkpoints": ["a"], "logical": {"initial": ["a"], "transitions": {"a": ["b"]}}}
    [(where, reason)] = problems(write(tmp_path, [app("x", "steady", supervision=sup)]))
    assert where == "applications[0].supervision" and "['b'] are not declared" in reason


def test_examples_load():
    execution, machine = load_execution(ROOT / "manifests" / "execution.example.yaml")
    assert {a.name for a in execution.applications} == {"uplink", "decode", "can", "diag-logger"}
    stages = [a for a in execution.applications if a.entry.function == "vehicle_mw.runtime.stage_main:main"]
    assert [a.entry.args for a in stages] == [["uplink"], ["decode"], ["can"]]
    assert all(a.supervision.alive and a.supervision.deadline and a.supervision.logical for a in stages)
    assert machine.can[0].name == "gnss" and machine.can[0].is_replay


def test_example_deployment_loads_with_its_channel():
    from vehicle_mw.runtime import load_deployment
    from vehicle_mw.runtime.stages import stage_names

    dep = load_deployment(ROOT / "manifests" / "machine.example.yaml")
    assert dep.channel_path == ROOT / "manifests" / "channel.example.yaml"
    assert dep.bus_file(0).is_file() and stage_names(dep) == ["uplink", "decode", "can"]


@pytest.mark.parametrize("kind,model", [("execution", ExecutionManifest), ("machine", MachineManifest)])
def test_committed_schema_matches_model(kind, model):
    committed = json.loads((ROOT / "manifests" / "schemas" / f"{kind}.schema.json").read_text())
    assert committed == model.model_json_schema(), "run: python -m vehicle_mw.manifest.execution"
