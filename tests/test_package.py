"""The package imports, builds its native core and protocol, and its CLI starts."""

import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from vehicle_mw.native import FRAME_SIZE, SAMPLE_SIZE, lib
from vehicle_mw.v1 import link_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_native_record_sizes_match_header():
    assert (FRAME_SIZE, SAMPLE_SIZE) == (lib.vmw_can_frame_size(), lib.vmw_sample_size()) == (88, 32)


def test_protocol_roundtrip():
    up = link_pb2.Uplink(hello=link_pb2.Hello(vehicle_id="VIN1", protocol_version=1))
    again = link_pb2.Uplink.FromString(up.SerializeToString())
    assert again.WhichOneof("msg") == "hello" and again.hello.vehicle_id == "VIN1"


def test_cli_info_runs():
    out = subprocess.run(
        [sys.executable, "-m", "vehicle_mw", "info"], capture_output=True, text=True, check=True
    )
    assert "native core: frame record 88 B" in out.stdout


def test_cli_without_an_extra_lists_its_commands_as_unavailable():
    """`vmw demo` imports fastapi when it registers; without the gateway extra the CLI still starts."""
    code = (
        "import sys; sys.modules['fastapi'] = None; "  # the import then raises ImportError
        "from vehicle_mw.cli import main; sys.exit(main(['--help']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "demo (fastapi not installed)" in out.stdout


def test_a_wheel_from_a_clean_tree_carries_the_generated_protocol(tmp_path):
    """vehicle_mw/v1 is generated at build time, after setuptools listed the packages: a wheel
    built from a fresh clone (no generated code) must still contain it."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no clean tree to build from")
    tree = tmp_path / "tree"
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            dst = tree / name.decode()
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    assert not (tree / "vehicle_mw" / "v1").exists()  # generated code is not tracked
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(tree),
        ],
        capture_output=True,
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("vehicle_mw-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "vehicle_mw/v1/link_pb2.py" in names and "vehicle_mw/v1/link_pb2_grpc.py" in names


def test_a_command_line_loads_only_the_command_it_runs():
    code = (
        "import sys\n"
        "from vehicle_mw.cli import main\n"
        "for argv in (['--version'], ['can', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    print(argv[0], 'fastapi' in sys.modules, 'vehicle_mw.cli.cmd_gateway' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(("--version ", "can "))]
    assert lines == ["--version False False", "can False False"]
    full = subprocess.run([sys.executable, "-m", "vehicle_mw", "--help"], capture_output=True, text=True)
    assert all(f"    {c}" in full.stdout for c in ("can", "gateway", "vehicle", "campaign", "update"))
