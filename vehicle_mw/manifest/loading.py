"""YAML -> pydantic model, with errors that name file, path and reason.

The one place manifests are read, so the limits live here: a file that is too big, not UTF-8,
nested too deeply, an alias bomb or an oversized integer is a :class:`ManifestError` with file,
position and reason, never a traceback (``vmw channel check``, ``someip check``, ``run``,
``gateway serve`` all come through :func:`load_manifest`).
"""

from __future__ import annotations

import pathlib
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from vehicle_mw.errors import VehicleMwError

M = TypeVar("M", bound=BaseModel)


class ManifestError(VehicleMwError):
    """A manifest that cannot be used; ``problems`` lists (path, reason) pairs."""

    def __init__(self, file: str, problems: list[tuple[str, str]]):
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path or '<top>'}: {reason}" for path, reason in problems]
        if len(lines) == 1:
            super().__init__(f"invalid manifest: {lines[0]}")
        else:
            super().__init__("invalid manifest\n  " + "\n  ".join(lines))


class StrictModel(BaseModel):
    """Base of every manifest model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_manifest(data: Any, model: type[M], file: str = "<memory>") -> M:
    """Validate already-loaded data against ``model``; raise :class:`ManifestError`."""
    try:
        return model.model_validate(data, context={"file": file})
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            reason = err["msg"]
            if err["type"] == "extra_forbidden":
                reason = "unknown key"
            problems.append((_dotted(loc), reason))
        raise ManifestError(file, problems) from None


MAX_FILE_BYTES = 4 << 20  # manifests are hand-written configuration, a few KiB
MAX_DEPTH = 64  # nesting of mappings/sequences
MAX_NODES = 200_000  # after expanding aliases: stops "billion laughs" before validation walks it
MAX_INT_BITS = 64  # no manifest field needs more; bigger integers are typos or attacks


class _Refused(Exception):
    """A limit of the loader was hit at ``mark``."""

    def __init__(self, mark: Any, reason: str) -> None:
        self.mark = mark
        self.reason = reason


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader with a nesting limit and integers checked where they are built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: Any) -> int:
        digits = sum(ch.isdigit() for ch in str(node.value))
        if digits > 40:  # also keeps Python's int str-digits limit (ValueError) out of the way
            raise _Refused(node.start_mark, f"integer of {digits} digits is out of range")
        value = super().construct_yaml_int(node)
        if value.bit_length() > MAX_INT_BITS:
            raise _Refused(
                node.start_mark, f"integer {value} is out of range (more than {MAX_INT_BITS} bits)"
            )
        return value


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes the document has once every alias is expanded (shared nodes counted per use)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()  # nodes being expanded: the markers on the stack are the DFS path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in on_path:  # an alias of one of its own ancestors
            raise _Refused(node.start_mark, "a recursive alias (a node that contains itself)")
        if isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        else:
            sizes[id(node)] = 1
            continue
        if children_done:
            on_path.discard(id(node))
            sizes[id(node)] = min(1 + sum(sizes.get(id(k), 1) for k in kids), MAX_NODES + 1)
        else:
            on_path.add(id(node))
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _parse_yaml(text: str, file: str) -> Any:
    loader = None
    try:
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise _Refused(node.start_mark, f"more than {MAX_NODES} values once aliases are expanded")
        return loader.construct_document(node)
    except _Refused as exc:
        raise ManifestError(file, [(_where(exc.mark), exc.reason)]) from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or str(exc)
        raise ManifestError(file, [(_where(exc.problem_mark), f"not valid YAML: {problem}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (binary data)
        where = _position(
            text.encode("utf-8", "replace"), len(text[: exc.position].encode("utf-8", "replace"))
        )
        reason = f"not valid YAML: character #x{exc.character:04x} is not allowed"
        raise ManifestError(file, [(where, reason)]) from None
    except yaml.YAMLError as exc:
        raise ManifestError(file, [("", f"not valid YAML: {str(exc)[:200]}")]) from None
    except (ValueError, RecursionError) as exc:  # a constructor refusing a value (bad date, ...)
        raise ManifestError(file, [("", f"not valid YAML: {str(exc)[:200]}")]) from None
    finally:
        if loader is not None:
            loader.dispose()


parse_yaml = _parse_yaml  # public name: YAML text of ``file`` -> data, bounded, errors with line/column


def _position(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    return f"line {line}, column {column}"


def load_manifest(path: str | pathlib.Path, model: type[M]) -> M:
    """Read a YAML (or JSON) manifest file and validate it as ``model``."""
    path = pathlib.Path(path)
    file = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(file, [("", "file not found")]) from None
    except IsADirectoryError:
        raise ManifestError(file, [("", "is a folder, not a file")]) from None
    except OSError as exc:
        raise ManifestError(file, [("", f"cannot read: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ManifestError(file, [("", f"larger than {MAX_FILE_BYTES >> 20} MiB: not a manifest")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(file, [(_position(raw, exc.start), "not UTF-8 text")]) from None
    data = _parse_yaml(text, file)
    if data is None:
        raise ManifestError(file, [("", "file is empty")])
    if not isinstance(data, dict):
        raise ManifestError(
            file, [("", f"the top level must be a mapping of keys, got {type(data).__name__}")]
        )
    return parse_manifest(data, model, file)
