"""Errors of campaign documents, expressions and campaign sets.

Each names what an operator needs to find the mistake: the file, the campaign, the field
(or the character position in an expression) and the reason.
"""

from __future__ import annotations

from vehicle_mw.errors import VehicleMwError


class CampaignError(VehicleMwError):
    """A campaign document, or a set of campaigns, that cannot be used."""

    def __init__(
        self, reason: str, *, file: str | None = None, campaign: str | None = None, field: str | None = None
    ) -> None:
        self.file = file
        self.campaign = campaign
        self.field = field
        self.reason = reason
        parts = [p for p in (file, f"campaign {campaign!r}" if campaign else None, field) if p]
        super().__init__(": ".join([*parts, reason]))


class ExpressionError(CampaignError):
    """An expression that does not parse or does not resolve; ``position`` is 1-based."""

    def __init__(
        self,
        reason: str,
        *,
        position: int,
        text: str = "",
        campaign: str | None = None,
        file: str | None = None,
        field: str | None = "collection.expression",
    ) -> None:
        self.position = position
        self.text = text
        where = f"character {position}: {reason}"
        if text:  # the expression around the position, and a caret under it
            lo = max(0, position - 40)
            where += f"\n    {text[lo : lo + 80]}\n    {' ' * (position - 1 - lo)}^"
        super().__init__(where, file=file, campaign=campaign, field=field)
        self.reason = reason


__all__ = ["CampaignError", "ExpressionError"]
