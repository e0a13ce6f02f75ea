"""Typed manifests: execution, machine, service-instance, campaign and bench files.

Each kind lives in its own module as pydantic models (unknown keys are errors);
:func:`load_manifest` reads YAML and turns every validation failure into a
:class:`ManifestError` naming the file, the path inside it and the reason.
JSON Schemas for editors and CI live in ``manifests/schemas`` and are generated
from the same models (``vmw manifest schemas``).
"""

from vehicle_mw.manifest.loading import ManifestError, StrictModel, load_manifest, parse_manifest

__all__ = ["ManifestError", "StrictModel", "load_manifest", "parse_manifest"]
