"""Campaign documents: what to collect, when, from which vehicles (pydantic, JSON Schema).

A document is YAML or JSON, validated strictly (unknown keys are errors) so a typo in a
field an engineer relies on never silently changes what a fleet uploads. The canonical
encoding (:func:`canonical_bytes`) is what is signed and what the SHA-256 confirming a
campaign is computed over, so the same document hashes the same on both ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from vehicle_mw.campaign.errors import CampaignError
from vehicle_mw.manifest import ManifestError, StrictModel, parse_manifest
from vehicle_mw.manifest.loading import MAX_FILE_BYTES, parse_yaml

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # also a file name in the vehicle's store
MAX_EXPRESSION_CHARS = 4096
MAX_SIGNALS = 20_000
MAX_WINDOW_MS = 24 * 3600 * 1000


class Targets(StrictModel):
    """Which vehicles run the campaign: listed ids, and/or a selector (all given parts must match)."""

    vehicles: list[str] = Field(default_factory=list, description="vehicle ids; empty = any vehicle")
    software_versions: list[str] = Field(
        default_factory=list, description="accepted software versions; empty = any"
    )
    catalog_hashes: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, description="accepted signal catalog hashes (sha256 hex); empty = any"
    )

    def matches(self, vehicle_id: str, software_version: str | None, catalog_hash: str | None) -> str | None:
        """None when the vehicle is targeted, else why not."""
        if self.vehicles and vehicle_id not in self.vehicles:
            return f"vehicle {vehicle_id!r} is not in the campaign's vehicles"
        if self.software_versions and software_version not in self.software_versions:
            return f"software version {software_version!r} is not one of {self.software_versions}"
        if self.catalog_hashes and catalog_hash not in self.catalog_hashes:
            return f"catalog hash {catalog_hash!r} is not one the campaign targets"
        return None


class SignalSpec(StrictModel):
    """One collected signal: catalog name (``Message.Signal``) or VSS path (``Vehicle.Speed``)."""

    name: str = Field(min_length=1, max_length=512)
    min_sampling_interval_ms: int = Field(
        0, ge=0, le=MAX_WINDOW_MS, description="drop samples closer than this to the last one kept"
    )
    max_samples: int | None = Field(
        None, ge=1, le=1_000_000, description="per window: pre-trigger ring size and upload cap"
    )


class TimeBased(StrictModel):
    """Collect the signals continuously; one upload per period."""

    type: Literal["time"]
    period_ms: int = Field(ge=1, le=MAX_WINDOW_MS)


class ConditionBased(StrictModel):
    """Collect a window around the instants an expression becomes (or is) true."""

    type: Literal["condition"]
    expression: str = Field(min_length=1, max_length=MAX_EXPRESSION_CHARS)
    trigger_mode: Literal["always", "rising_edge"] = "rising_edge"
    min_trigger_interval_ms: int = Field(0, ge=0, le=MAX_WINDOW_MS)
    pre_trigger_ms: int = Field(0, ge=0, le=MAX_WINDOW_MS)
    post_trigger_ms: int = Field(0, ge=0, le=MAX_WINDOW_MS)


Collection = Annotated[TimeBased | ConditionBased, Field(discriminator="type")]


class Campaign(StrictModel):
    """A data-collection campaign document."""

    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1, le=2**53, description="grows with every change; lower ones are refused")
    targets: Targets = Field(default_factory=Targets)
    start: AwareDatetime | None = Field(None, description="UTC; not active before")
    expiry: AwareDatetime = Field(description="UTC; refused and inactive from then on")
    priority: int = Field(0, ge=0, le=255, description="outbox eviction priority (higher kept longer)")
    signals: list[SignalSpec] = Field(min_length=1, max_length=MAX_SIGNALS)
    collection: Collection
    spool: Literal["disk", "memory"] = "disk"
    compression: Literal["none", "zlib"] = "zlib"

    @field_validator("start", "expiry")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return value.astimezone(dt.UTC) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        if self.start is not None and self.start >= self.expiry:
            raise ValueError("start must be before expiry")
        names = [s.name for s in self.signals]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"signals listed twice: {', '.join(dupes)}")
        return self

    def active_at(self, now: dt.datetime) -> bool:
        return (self.start is None or self.start <= now) and now < self.expiry


def canonical_bytes(campaign: Campaign) -> bytes:
    """The encoding that is signed and hashed: sorted-key compact JSON of every field, UTF-8."""
    data = campaign.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def document_sha256(campaign: Campaign) -> str:
    """SHA-256 (hex) of the canonical encoding: what a vehicle reports for an active campaign."""
    return hashlib.sha256(canonical_bytes(campaign)).hexdigest()


def campaign_schema() -> dict[str, Any]:
    """JSON Schema of one campaign document."""
    schema = Campaign.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vehicle_mw campaign"
    return schema


def _problems_error(exc: ManifestError, campaign: str | None) -> CampaignError:
    path, reason = exc.problems[0]
    more = f" (and {len(exc.problems) - 1} more problems)" if len(exc.problems) > 1 else ""
    return CampaignError(reason + more, file=exc.file, campaign=campaign, field=path or None)


def parse_campaign(data: Any, file: str = "<memory>", field_prefix: str = "") -> Campaign:
    """Validate one already-loaded campaign mapping; errors name file, campaign and field."""
    name = data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else None
    if not isinstance(data, dict):
        raise CampaignError(
            f"a campaign must be a mapping, got {type(data).__name__}", file=file, field=field_prefix or None
        )
    try:
        return parse_manifest(data, Campaign, file)
    except ManifestError as exc:
        err = _problems_error(exc, name)
        if field_prefix:
            err = CampaignError(
                err.reason, file=file, campaign=name, field=f"{field_prefix}.{err.field or ''}".rstrip(".")
            )
        raise err from None


def campaigns_from_data(data: Any, file: str = "<memory>") -> list[Campaign]:
    """One campaign mapping, or ``{"campaigns": [...]}`` with several (names must differ)."""
    if isinstance(data, dict) and set(data) == {"campaigns"}:
        items = data["campaigns"]
        if not isinstance(items, list) or not items:
            raise CampaignError("must be a non-empty list of campaigns", file=file, field="campaigns")
        out = [parse_campaign(item, file, f"campaigns[{i}]") for i, item in enumerate(items)]
    else:
        out = [parse_campaign(data, file)]
    seen: set[str] = set()
    for c in out:
        if isinstance(c.collection, ConditionBased):
            from vehicle_mw.campaign.expression import parse_expression

            try:
                parse_expression(c.collection.expression, c.name)
            except CampaignError as exc:
                exc.file = file
                exc.args = (f"{file}: {exc}",)
                raise
        if c.name in seen:
            raise CampaignError("two campaigns of one file have this name", file=file, campaign=c.name)
        seen.add(c.name)
    return out


def read_document(path: str | pathlib.Path) -> Any:
    """The YAML/JSON data of a file through the manifests' bounded loader (size, depth, aliases)."""
    path = pathlib.Path(path)
    file = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CampaignError(f"cannot read: {exc.strerror or exc}", file=file) from None
    if len(raw) > MAX_FILE_BYTES:
        raise CampaignError(f"larger than {MAX_FILE_BYTES >> 20} MiB", file=file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CampaignError("not UTF-8 text", file=file) from None
    try:
        data = parse_yaml(text, file)
    except ManifestError as exc:
        raise _problems_error(exc, None) from None
    if data is None:
        raise CampaignError("file is empty", file=file)
    return data


def load_campaigns(path: str | pathlib.Path) -> list[Campaign]:
    """Campaigns of a YAML/JSON file (one document, or ``campaigns:`` with several)."""
    return campaigns_from_data(read_document(path), str(path))


__all__ = [
    "Campaign",
    "ConditionBased",
    "SignalSpec",
    "Targets",
    "TimeBased",
    "campaign_schema",
    "campaigns_from_data",
    "canonical_bytes",
    "document_sha256",
    "load_campaigns",
    "parse_campaign",
    "read_document",
]
