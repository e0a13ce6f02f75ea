"""Data-collection campaigns: which samples a vehicle uploads, when, and proof of what it runs.

What other parts use::

    from vehicle_mw.campaign import load_campaigns, CampaignSet, SignalIndex, CampaignStore

    campaigns = load_campaigns("brake.yaml")           # pydantic Campaign documents
    cs = CampaignSet(campaigns, SignalIndex.from_catalog(catalog), memory_limit_bytes=64 << 20)
    cs.memory_bytes, cs.reports                        # state bound, per campaign
    sel = cs.process(samples)                          # SAMPLE_DTYPE batch -> Selection
    sel.samples, sel.campaign, sel.window              # records to upload, tagged
    sel.trigger_campaign, sel.trigger_time_ns          # accepted triggers

    store = CampaignStore(folder, verify_keys, VehicleIdentity("VIN1", "1.4.2", catalog.hash))
    verdict = store.accept(signed_bytes)               # Verdict(accepted, reason, message, sha256)
    store.active(), store.status()                     # active campaigns, {name: (version, sha256)}

See docs/campaigns.md.
"""

from vehicle_mw.campaign.campaign_set import CampaignSet, MemoryReport, Selection, campaign_set
from vehicle_mw.campaign.document import (
    Campaign,
    campaign_schema,
    campaigns_from_data,
    canonical_bytes,
    document_sha256,
    load_campaigns,
)
from vehicle_mw.campaign.errors import CampaignError, ExpressionError
from vehicle_mw.campaign.evaluator import SignalIndex
from vehicle_mw.campaign.expression import parse_expression
from vehicle_mw.campaign.signing import SignatureError, SignedCampaign, sign, verify
from vehicle_mw.campaign.store import CampaignStore, VehicleIdentity, Verdict

__all__ = [
    "Campaign",
    "CampaignError",
    "CampaignSet",
    "CampaignStore",
    "SignatureError",
    "SignedCampaign",
    "Verdict",
    "VehicleIdentity",
    "ExpressionError",
    "MemoryReport",
    "Selection",
    "SignalIndex",
    "campaign_schema",
    "campaign_set",
    "campaigns_from_data",
    "canonical_bytes",
    "document_sha256",
    "load_campaigns",
    "parse_expression",
    "sign",
    "verify",
]
