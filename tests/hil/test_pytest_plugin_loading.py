"""The HIL pytest plugin loaded the ways other projects load it, by a real pytest in a temp project:
``-p``, a root conftest's ``pytest_plugins``, the ``pytest11`` entry point (a dist-info on
PYTHONPATH carrying the line pyproject.toml declares), and all of them at once. Registered
globally it is in every pytest run, so loading it must not import the harness."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

HIL = pathlib.Path(__file__).resolve().parents[2] / "hil"
PLUGIN = "vehicle_mw.hil.pytest_plugin"
# what the harness pulls in; none of it may load before a test calls hil_run
HEAVY = [
    *("can", "cantools", "numpy", "yaml"),
    *("vehicle_mw.hil.runner", "vehicle_mw.runtime", "vehicle_mw.gateway"),
]


def _project(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    """A folder pytest takes as its rootdir (its own pytest.ini), with the given files."""
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def _entry_point(folder: pathlib.Path) -> pathlib.Path:
    """An installed distribution whose only content is the plugin's pytest11 entry point."""
    info = folder / "vmw_hil_entry_point-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vmw-hil-entry-point\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(f"[pytest11]\n{PLUGIN} = {PLUGIN}\n")
    return folder


def _pytest(project: pathlib.Path, *args: str, entry_point: pathlib.Path | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if entry_point is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(entry_point), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_p_option_loads_nothing_heavy_then_runs_a_scenario_with_reports(tmp_path):
    bench = HIL / "benches/body-restbus.yaml"
    project = _project(
        tmp_path / "proj",
        {
            "short.yaml": """\
                name: short
                duration_ms: 400
                assertions:
                  - {name: heartbeat, message_period: {bus: body, message: BodyHeartbeat, from_ms: 0}}
                """,
            "test_0_light.py": f"""\
                import sys

                def test_plugin_loaded_nothing_heavy():
                    assert [m for m in {HEAVY!r} if m in sys.modules] == []
                """,
            "test_1_bench.py": f"""\
                import sys
                from vehicle_mw.hil.pytest_plugin import report_failures

                def test_bench(hil_run):
                    report = hil_run({str(bench)!r}, "short.yaml")
                    assert report.passed, report_failures(report)
                    assert "cantools" in sys.modules  # the check above can see an import
                """,
        },
    )
    done = _pytest(project, "-p", PLUGIN, "--hil-reports", "reports")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    xml = sorted((project / "reports").glob("*.xml"))
    assert [p.name for p in xml] == ["test_bench.short.xml"]
    assert (project / "reports/test_bench.short.html").stat().st_size > 0
    cases = ET.parse(xml[0]).getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["heartbeat"]


def test_entry_point_conftest_and_p_together_register_the_plugin_once(tmp_path):
    project = _project(
        tmp_path / "proj",
        {
            # the pre-entry-point documented way (the hook and fixture imported) plus pytest_plugins
            "conftest.py": f"""\
                from vehicle_mw.hil.pytest_plugin import hil_run, pytest_addoption  # noqa: F401
                pytest_plugins = [{PLUGIN!r}]
                """,
            "test_once.py": f"""\
                import {PLUGIN} as plugin

                def test_once(request, hil_run):
                    manager = request.config.pluginmanager
                    assert manager.get_plugin({PLUGIN!r}) is plugin
                    assert [p for p in manager.get_plugins() if p is plugin] == [plugin]
                    assert request.config.getoption("--hil-reports") == "out"
                    assert callable(hil_run)
                """,
        },
    )
    entry = _entry_point(tmp_path / "site")
    done = _pytest(project, "-p", PLUGIN, "--hil-reports", "out", entry_point=entry)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    helped = _pytest(project, "--help", entry_point=entry)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.count("--hil-reports") == 1


def test_entry_point_alone_offers_the_fixture_and_no_option_turns_it_off(tmp_path):
    test = "def test_uses(hil_run):\n    assert hil_run\n"
    project = _project(tmp_path / "proj", {"test_fixture.py": test})
    entry = _entry_point(tmp_path / "site")
    done = _pytest(project, entry_point=entry)
    assert done.returncode == 0, done.stdout + done.stderr
    off = _pytest(project, "-p", f"no:{PLUGIN}", entry_point=entry)
    assert off.returncode == 1 and "fixture 'hil_run' not found" in off.stdout, off.stdout + off.stderr
