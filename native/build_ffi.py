"""cffi out-of-line API build of the native core.

Every ``native/src/*.c`` is compiled into one extension, ``vehicle_mw._native``.
The declarations cffi exposes to Python live in ``native/cdef/*.h`` (plain C
declarations pycparser can read, no macros or includes); the full headers in
``native/include`` are what the C sources and the generated module include.
Adding a C feature is therefore: a source in ``src/``, a header in
``include/``, the Python-visible part in ``cdef/`` -- no edit here.
"""

from __future__ import annotations

import os
import pathlib

from cffi import FFI

NATIVE = pathlib.Path(__file__).resolve().parent
ROOT = NATIVE.parent

# Warnings are errors for our own C (native/Makefile compiles it the same way);
# the cffi-generated glue is compiled with the same flags, so it must stay clean too.
CFLAGS = [
    "-std=gnu11",
    "-O2",
    "-g",
    "-fno-strict-aliasing",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]


def _rel(paths: list[pathlib.Path]) -> list[str]:
    # setuptools wants sources relative to the project root.
    return [os.path.relpath(p, ROOT) for p in paths]


sources = sorted((NATIVE / "src").glob("*.c"))
headers = sorted((NATIVE / "include").glob("*.h"))
cdefs = sorted((NATIVE / "cdef").glob("*.h"))

ffibuilder = FFI()
ffibuilder.cdef("\n".join(p.read_text() for p in cdefs))
ffibuilder.set_source(
    "vehicle_mw._native",
    "\n".join(f'#include "{h.name}"' for h in headers),
    sources=_rel(sources),
    include_dirs=[os.path.relpath(NATIVE / "include", ROOT)],
    extra_compile_args=CFLAGS,
    libraries=["rt", "pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
