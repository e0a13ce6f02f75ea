"""The Python binding is read from the C headers (native/build_ffi.py), and the numpy record views
are laid out from the compiled structs: neither can drift from the C."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

from vehicle_mw.native import ffi, lib, records

NATIVE = pathlib.Path(__file__).resolve().parents[2] / "native"


def _build_ffi():
    spec = importlib.util.spec_from_file_location("vmw_build_ffi", NATIVE / "build_ffi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_function_and_constant_of_a_public_header_reaches_python():
    build = _build_ffi()
    headers = build.public_headers()
    assert {p.name for p in headers} >= {"vmw_ring.h", "vmw_records.h", "vmw_clock.h", "vmw_decode.h"}
    names = [p.name for p in headers]
    assert names.index("vmw_records.h") < names.index("vmw_decode.h")  # includes come first
    missing = []
    for path in headers:
        text = re.sub(r"/\*.*?\*/", " ", path.read_text(), flags=re.S)
        for fn in re.findall(r"\b(vmw_[a-z0-9_]+)\s*\(", text):
            if not hasattr(lib, fn):
                missing.append(f"{path.name}: {fn}")
        for const in re.findall(r"#[ \t]*define[ \t]+(VMW_[A-Z0-9_]+)[ \t]+\S", text):
            if not hasattr(lib, const):
                missing.append(f"{path.name}: {const}")
    assert missing == []
    assert lib.VMW_RING_ENOENT == -1  # negative constants keep their sign


def test_internal_headers_stay_out_of_the_binding():
    names = {p.name for p in _build_ffi().public_headers()}
    assert "vmw_shm.h" not in names and "vmw_wait.h" not in names
    assert not hasattr(lib, "vmw_futex_wait")


def test_record_views_follow_the_compiled_structs():
    for dtype, ctype in ((records.FRAME_DTYPE, "vmw_can_frame"), (records.SAMPLE_DTYPE, "vmw_sample")):
        assert dtype.itemsize == ffi.sizeof(ctype)
        for name in dtype.names:
            assert dtype.fields[name][1] == ffi.offsetof(ctype, name)
    assert records.FRAME_EXTENDED == 0x01 and records.VALUE_BOOL == 3


def test_a_view_that_disagrees_with_the_c_layout_is_refused_by_name():
    with pytest.raises(ImportError, match=r"vmw_can_frame\.seq: numpy uint32 is 4 bytes, C has 8"):
        records._c_layout("vmw_can_frame", [("seq", "<u4")])
