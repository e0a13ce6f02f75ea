"""Operator commands a running vehicle runtime answers (the channel's ``Uplink(on_command=...)``).

An operator (dashboard, ``POST /api/vehicles/{id}/commands``) sends a ``Command`` down the link; the
uplink stage answers it with a ``CommandAck``. Kinds:

- ``ping``: ``pong`` (the link and the runtime's event loop are alive).
- ``status``: the per-stage counters as compact JSON ``{"stages": {...}, "truncated": false}`` (what
  ``vmw vehicle status`` shows), at most :data:`MAX_DETAIL_BYTES` (see :func:`bounded_json`);
  payload ``{"stage": "uplink"}`` picks one stage.
- ``flush``: sync the outbox now (fsync whatever is written), so what is written becomes sendable at
  once instead of at the next ``fsync_interval_s``; answers the synced and acknowledged seqs.
- ``campaign``: the payload is a signed campaign envelope (``vmw campaign sign``, at most
  :data:`~vehicle_mw.campaign.signing.MAX_SIGNED_BYTES`); ok when the vehicle accepted it, and either
  way the detail is the verdict as JSON ``{"reason", "message", "campaign", "version", "sha256"}``
  (reasons: docs/campaigns.md). An accepted campaign is stored durably and runs at once.

Any other kind, or a payload that is not what the kind takes, is refused (``ok=false``) with a reason
naming the known kinds. The handler is decoupled from the stages: it gets callables for the
counters and for the flush, so it is testable without rings, outbox or link.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import Callable
from typing import Any

from vehicle_mw.runtime import counters as counter_files
from vehicle_mw.v1 import link_pb2

MAX_DETAIL_BYTES = 4096  # a CommandAck detail; the gateway stores it and the dashboard shows it
MAX_PAYLOAD_BYTES = 1024  # a command payload this handler parses

Counters = Callable[[], dict[str, dict[str, Any]]]


def _compact(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str)


def bounded_json(per_stage: dict[str, dict[str, Any]], limit: int = MAX_DETAIL_BYTES) -> str:
    """``{"stages": per_stage, "truncated": false}`` as JSON of at most ``limit`` bytes (UTF-8).

    When that is too long, each stage keeps only its scalar counters (nested ones, e.g. per-bus or
    per-link maps, are dropped), then stages are left out from the end and listed in ``"omitted"``;
    such answers say ``"truncated": true``. Always valid JSON.
    """
    whole = _compact({"stages": per_stage, "truncated": False})
    if len(whole.encode()) <= limit:
        return whole
    flat = {
        stage: {k: v for k, v in values.items() if not isinstance(v, dict | list)}
        if isinstance(values, dict)
        else {}
        for stage, values in per_stage.items()
    }
    doc: dict[str, Any] = {"truncated": True, "stages": flat}
    text = _compact(doc)
    if len(text.encode()) <= limit:
        return text
    names = list(flat)
    for k in range(len(names) - 1, -1, -1):  # a handful of stages: try shorter prefixes
        text = _compact({"truncated": True, "stages": {n: flat[n] for n in names[:k]}, "omitted": names[k:]})
        if len(text.encode()) <= limit:
            return text
    # even the names do not fit: say how many stages there are
    return _compact({"truncated": True, "stages": {}, "omitted_count": len(names)})


class RuntimeCommands:
    """The runtime's command handler: ``await handler(cmd) -> (ok, detail)``."""

    KINDS = ("campaign", "flush", "ping", "status")

    def __init__(
        self,
        counters: Counters,
        flush: Callable[[], dict[str, Any]] | None = None,
        max_detail_bytes: int = MAX_DETAIL_BYTES,
        campaign: Callable[[bytes], Any] | None = None,
    ) -> None:
        self.counters = counters
        self.flush = flush
        self.campaign = campaign  # envelope bytes -> a campaign Verdict (runtime/campaigns.py)
        self.max_detail_bytes = max_detail_bytes
        self.handled: dict[str, int] = {}  # kind -> commands answered (unknown kinds under "unknown")

    async def __call__(self, cmd: link_pb2.Command) -> tuple[bool, str]:
        kind = cmd.kind if cmd.kind in self.KINDS else "unknown"
        self.handled[kind] = self.handled.get(kind, 0) + 1
        if kind == "unknown":
            shown = cmd.kind if len(cmd.kind) <= 64 else cmd.kind[:64] + "..."
            return (
                False,
                f"unknown command kind {shown!r}; this vehicle runtime knows {', '.join(self.KINDS)}",
            )
        if kind == "campaign":  # a signed document, not a small JSON argument object
            return await self._campaign(cmd.payload)
        try:
            args = self._payload(cmd)
        except ValueError as exc:
            return False, f"{cmd.kind}: {exc}"
        return await getattr(self, f"_{kind}")(args)

    @staticmethod
    def _payload(cmd: link_pb2.Command) -> dict[str, Any]:
        raw = cmd.payload.strip()
        if not raw or raw == b"null":  # the gateway's REST API sends JSON null when no payload was given
            return {}
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload of {len(raw)} B exceeds {MAX_PAYLOAD_BYTES} B")
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise ValueError("payload is not JSON") from None
        if not isinstance(doc, dict):
            raise ValueError(f"payload must be a JSON object, not {type(doc).__name__}")
        return doc

    async def _ping(self, args: dict[str, Any]) -> tuple[bool, str]:
        if args:
            return False, f"ping: takes no payload (got keys {sorted(args)})"
        return True, "pong"

    async def _status(self, args: dict[str, Any]) -> tuple[bool, str]:
        unknown = sorted(set(args) - {"stage"})
        if unknown:
            return False, f"status: unknown payload keys {unknown} (known: stage)"
        per_stage = self.counters()
        stage = args.get("stage")
        if stage is not None:
            if not isinstance(stage, str) or stage not in per_stage:
                return (
                    False,
                    f"status: no stage {stage!r} (running: {', '.join(sorted(per_stage)) or 'none'})",
                )
            per_stage = {stage: per_stage[stage]}
        return True, bounded_json(per_stage, self.max_detail_bytes)

    async def _flush(self, args: dict[str, Any]) -> tuple[bool, str]:
        if args:
            return False, f"flush: takes no payload (got keys {sorted(args)})"
        if self.flush is None:
            return False, "flush: this runtime has no outbox to flush"
        result = await asyncio.to_thread(self.flush)  # an fsync blocks: not on the link's event loop
        return True, _compact(result)[: self.max_detail_bytes]

    async def _campaign(self, envelope: bytes) -> tuple[bool, str]:
        from vehicle_mw.campaign.signing import MAX_SIGNED_BYTES  # (not loaded until a push arrives)

        if self.campaign is None:
            return False, "campaign: this runtime does not run campaigns"
        if len(envelope) > MAX_SIGNED_BYTES:
            return False, f"campaign: payload of {len(envelope)} B exceeds {MAX_SIGNED_BYTES} B"
        verdict = await asyncio.to_thread(self.campaign, envelope)  # it fsyncs what it accepts
        doc = {
            "reason": verdict.reason,
            "campaign": verdict.campaign,
            "version": verdict.version,
            "sha256": verdict.sha256,
        }
        message = verdict.message
        text = _compact({**doc, "message": message})
        while len(text.encode()) > self.max_detail_bytes and message:  # a long validation error
            message = message[: len(message) * 3 // 4]
            text = _compact({**doc, "message": message})
        return bool(verdict.accepted), text


def stage_counters(state_dir: pathlib.Path, live: dict[str, Callable[[], dict[str, Any]]]) -> Counters:
    """Counters of every stage: the ones published in ``state_dir`` (other threads or processes of
    the deployment, a few times a second; with their ``age_s`` and whether the process ``running``),
    overridden by ``live`` ones of this process (read when asked)."""

    def read() -> dict[str, dict[str, Any]]:
        out = {
            name: {**doc.get("counters", {}), "age_s": doc["age_s"], "running": doc["running"]}
            for name, doc in counter_files.read_all(state_dir).items()
            if isinstance(doc.get("counters", {}), dict)
        }
        for name, fn in live.items():
            out[name] = fn()
        return out

    return read


def outbox_flush(outbox: Any) -> Callable[[], dict[str, Any]]:
    """A flush for :class:`RuntimeCommands`: sync ``outbox`` and wake its listeners (the uplink sends
    what became sendable), answering its seqs afterwards."""

    def flush() -> dict[str, Any]:
        before = outbox.stats()
        outbox.flush()  # sync, and the uplink hears of the batches that became sendable
        st = outbox.stats()
        return {
            "synced_seq": st.high_seq,
            "acked_seq": st.acked_seq,
            "backlog_batches": st.backlog_batches,
            "was_backlog_batches": before.backlog_batches,
        }

    return flush


__all__ = ["MAX_DETAIL_BYTES", "RuntimeCommands", "bounded_json", "outbox_flush", "stage_counters"]
