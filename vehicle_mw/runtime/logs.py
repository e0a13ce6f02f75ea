"""One JSON object per log line (structlog over the standard logging every package already uses).

``extra={...}`` fields of a log call become keys of the object; the default level (info) shows
stage starts and stops, bus failures, transport switches and errors, not per-batch chatter.
"""

from __future__ import annotations

import json
import logging
import sys

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_QUIET = ("vehicle_mw.signals.catalog", "can", "grpc", "websockets", "asyncio")


def _merge_json_event(_logger: object, _name: str, event: dict) -> dict:
    """Loggers that already format their message as a JSON object (the gateway's) are merged, not
    nested as a string, so every line stays one flat object."""
    text = event.get("event")
    if isinstance(text, str) and text.startswith("{"):
        try:
            inner = json.loads(text)
        except ValueError:
            return event
        if isinstance(inner, dict):
            return {**event, **inner, "event": inner.get("event", text)}
    return event


def configure_logging(level: str = "info", stream=None, **context: str) -> None:
    """Route every logger to ``stream`` (stderr) as JSON lines; ``context`` is added to each line."""
    pre_chain = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _merge_json_event,
    ]
    if context:
        pre_chain.insert(0, lambda _logger, _name, event: {**context, **event})
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=pre_chain,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    for name in _QUIET:  # per-message catalog notes and library chatter only at debug
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))


__all__ = ["configure_logging"]
