"""YAML -> pydantic model, with errors that name file, path and reason."""

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


def load_manifest(path: str | pathlib.Path, model: type[M]) -> M:
    """Read a YAML manifest file and validate it as ``model``."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(str(path), [("", "file not found")]) from None
    except OSError as exc:
        raise ManifestError(str(path), [("", f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(str(path), [(where, f"not valid YAML: {problem}")]) from None
    if data is None:
        raise ManifestError(str(path), [("", "file is empty")])
    return parse_manifest(data, model, str(path))
