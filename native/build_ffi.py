"""cffi out-of-line API build of the native core.

Every ``native/src/*.c`` is compiled into one extension, ``vehicle_mw._native``.
What Python sees is read from the headers themselves: each ``native/include`` header whose
leading comment says ``cffi: public`` is turned into cffi declarations (:func:`cdef_source`), so
a prototype exists once and cannot drift from a hand-kept copy. Adding a C feature is therefore:
a source in ``src/``, its declarations in a public header -- no edit here. The compiler flags are
``native/cflags``, shared with native/Makefile's unit and sanitizer builds.
"""

from __future__ import annotations

import os
import pathlib
import re

from cffi import FFI

NATIVE = pathlib.Path(__file__).resolve().parent
ROOT = NATIVE.parent

# Warnings are errors for our own C (native/Makefile compiles it with the same flags); the
# cffi-generated glue is compiled with them too, so it must stay clean as well.
CFLAGS = (NATIVE / "cflags").read_text().split()
PUBLIC_MARK = "cffi: public"


def _rel(paths: list[pathlib.Path]) -> list[str]:
    # setuptools wants sources relative to the project root.
    return [os.path.relpath(p, ROOT) for p in paths]


def _declarations(text: str) -> str:
    """A header as cffi declarations: comments, _Static_assert and preprocessor lines dropped,
    ``#define VMW_X <value>`` kept as an integer constant whose value the compiler supplies,
    ``static inline`` functions reduced to their prototypes."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"_Static_assert\s*\(.*?\)\s*;", "", text, flags=re.S)
    while (start := text.find("static inline")) >= 0:
        body = text.index("{", start)
        depth, end = 0, body
        while True:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        text = text[:start] + text[start + len("static inline") : body].strip() + ";" + text[end + 1 :]
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            define = re.match(r"\s*#\s*define\s+(VMW_[A-Z0-9_]+)\s+\S", line)
            if define:
                lines.append(f"#define {define.group(1)} ...")
            continue
        lines.append(line)
    return "\n".join(lines)


def public_headers(include: pathlib.Path = NATIVE / "include") -> list[pathlib.Path]:
    """The public headers, each after the project headers it includes."""
    found = {p.name: p for p in sorted(include.glob("*.h")) if PUBLIC_MARK in p.read_text()}
    ordered: list[pathlib.Path] = []

    def visit(name: str) -> None:
        path = found.get(name)
        if path is None or path in ordered:
            return
        for dep in re.findall(r'#include "([^"]+)"', path.read_text()):
            visit(dep)
        ordered.append(path)

    for name in found:
        visit(name)
    return ordered


def cdef_source() -> str:
    return "\n".join(_declarations(p.read_text()) for p in public_headers())


sources = sorted((NATIVE / "src").glob("*.c"))
headers = sorted((NATIVE / "include").glob("*.h"))

ffibuilder = FFI()
ffibuilder.cdef(cdef_source())
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
