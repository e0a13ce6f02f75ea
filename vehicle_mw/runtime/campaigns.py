"""Data-collection campaigns in the vehicle runtime: the uplink stage's filter between rings and outbox.

The uplink stage owns one :class:`RuntimeCampaigns`. At start it loads the campaigns accepted before
(``<state_dir>/campaigns/``, re-verified) with the verification keys the vehicle trusts
(``<state_dir>/campaign_keys/*.pem``, Ed25519 public keys; none: every push is refused). A signed
document arrives as the downlink command ``campaign`` (runtime/commands.py); :meth:`accept` checks
that this vehicle can run it (its signals are in the catalog, the memory bound holds), stores it
durably (campaign/store.py) and swaps in a new :class:`~vehicle_mw.campaign.CampaignSet` at once.

While a campaign is active, the samples drained from the rings go through the set and only what it
selects is appended to the outbox, one append per campaign with the campaign's priority (the
outbox's eviction priority); a sample two campaigns select in the same batch is stored once, by
the higher priority one. With no active campaign, :attr:`running` is false and the drain appends
everything exactly as without campaigns. The set's state (windows, rings) is in memory: a new
document or a campaign starting or expiring replaces the set, and the campaigns that did not change
go on where they were (``CampaignSet.adopt``); a runtime restart starts them afresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import pathlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from vehicle_mw.v1 import link_pb2

if TYPE_CHECKING:  # vehicle_mw.campaign (pydantic models, cryptography: ~9 MB) loads only when used
    from vehicle_mw.campaign import CampaignSet, CampaignStore, SignalIndex, Verdict

log = logging.getLogger("vehicle_mw.runtime")

CAMPAIGNS_DIR = "campaigns"
KEYS_DIR = "campaign_keys"
MEMORY_LIMIT_BYTES = 64 << 20
REFRESH_S = 1.0  # how often start/expiry times are looked at

Append = Callable[[np.ndarray, int], list[int]]  # Outbox.append(samples, priority) -> seqs


def signal_index(catalog: link_pb2.Catalog) -> SignalIndex:
    """Names (``Message.Signal``; left out when two sources carry one) and VSS paths to ids."""
    from vehicle_mw.campaign import SignalIndex

    return SignalIndex.from_entries((s.name, s.id, s.vss_path) for s in catalog.signals)


def load_keys(folder: pathlib.Path) -> tuple[list, dict[str, str]]:
    """The trusted verification keys in ``folder`` and, per file that is not one, why."""
    from vehicle_mw.campaign import CampaignError
    from vehicle_mw.campaign.signing import load_public_key

    keys, problems = [], {}
    for path in sorted(folder.glob("*.pem")) if folder.is_dir() else []:
        try:
            keys.append(load_public_key(path))
        except CampaignError as exc:
            problems[path.name] = str(exc)
            log.error("%s: not used as a campaign key: %s", path, exc)
    return keys, problems


def _has(folder: pathlib.Path, pattern: str) -> bool:
    return folder.is_dir() and any(folder.glob(pattern))


class _Tally:
    """Per campaign, since the runtime started (kept across rebuilds of the set)."""

    __slots__ = ("triggers", "suppressed", "selected", "stored", "duplicate", "dropped")

    def __init__(self) -> None:
        self.triggers = self.suppressed = self.selected = self.stored = self.duplicate = self.dropped = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


class RuntimeCampaigns:
    """The vehicle's accepted campaigns, the set running the active ones, and their counters."""

    def __init__(
        self,
        state_dir: pathlib.Path,
        catalog: link_pb2.Catalog,
        vehicle_id: str,
        software_version: str | None = None,
        *,
        memory_limit_bytes: int = MEMORY_LIMIT_BYTES,
        max_batch_samples: int = 4096,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.keys_dir = state_dir / KEYS_DIR
        self.campaigns_dir = state_dir / CAMPAIGNS_DIR
        self._catalog = catalog
        self._vehicle = (vehicle_id, software_version or None)
        self.key_problems: dict[str, str] = {}
        self.store: CampaignStore | None = None  # opened once there is a key or a stored campaign
        self.index: SignalIndex | None = None
        self.memory_limit_bytes = memory_limit_bytes
        self.max_batch_samples = max_batch_samples
        self.clock = clock
        self._lock = threading.Lock()  # the drain thread selects, the command handler swaps the set
        self._accepting = threading.Lock()  # one pushed document at a time (commands may overlap)
        self._set: CampaignSet | None = None
        self._priority: np.ndarray = np.empty(0, np.int64)
        self._active_names: tuple[str, ...] = ()
        self._tally: dict[str, _Tally] = {}
        self._unusable: dict[str, str] = {}
        self._next_refresh = 0.0
        self.refresh_s = refresh_s
        self.samples_considered = 0
        self.samples_stored = 0
        self.rebuilds = 0
        if _has(self.keys_dir, "*.pem") or _has(self.campaigns_dir, "*.json"):
            self._open()

    def _open(self) -> None:
        from vehicle_mw.campaign import CampaignStore, VehicleIdentity

        keys, self.key_problems = load_keys(self.keys_dir)
        vehicle_id, software = self._vehicle
        self.identity = VehicleIdentity(vehicle_id, software, self._catalog.hash.hex() or None)
        self.store = CampaignStore(self.campaigns_dir, keys, self.identity, self.clock)
        self.index = signal_index(self._catalog)
        self._rebuild()

    def has_any(self) -> bool:
        """Whether any campaign is stored (or a stored file was left out): counters show them then."""
        return self.store is not None and bool(self.store.accepted() or self.store.problems)

    # ---------------------------------------------------------------- the set
    @property
    def running(self) -> bool:
        """Whether a campaign is active: the drain filters through :meth:`select` only then."""
        return self._set is not None

    def _build(self, campaigns: list) -> CampaignSet:
        from vehicle_mw.campaign import CampaignSet

        return CampaignSet(campaigns, self.index, memory_limit_bytes=self.memory_limit_bytes)

    def _rebuild(self) -> None:
        from vehicle_mw.campaign import CampaignError

        assert self.store is not None
        now = self.clock()
        active = []
        for c in self.store.active(now):
            if c.name in self._unusable:  # until a newer version of it is accepted
                continue
            try:  # checked at accept; a stored one may predate a catalog change
                self._build([c])
            except CampaignError as exc:
                if c.name not in self._unusable:
                    log.error("campaign %s cannot run on this vehicle: %s", c.name, exc)
                self._unusable[c.name] = str(exc)
                continue
            active.append(c)
        try:
            cs = self._build(active) if active else None
        except CampaignError as exc:  # together over the memory bound (each alone fits)
            log.error("active campaigns left out: %s", exc)
            cs = None
        with self._lock:
            if cs is not None and self._set is not None:  # (under the lock: no batch in between)
                cs.adopt(self._set)  # the unchanged campaigns' windows go on
            self._set = cs
            self._active_names = tuple(cs.names) if cs else ()
            by_name = {c.name: c for c in active}
            self._priority = np.array([by_name[n].priority for n in self._active_names], np.int64)
            for n in self._active_names:
                self._tally.setdefault(n, _Tally())
        self.rebuilds += 1
        self._next_refresh = time.monotonic() + self.refresh_s

    def refresh(self) -> None:
        """Rebuild when a campaign started or expired since the last look (called from poll())."""
        if self.store is None or time.monotonic() < self._next_refresh:
            return
        if not self._accepting.acquire(blocking=False):
            return
        try:
            self._refresh()
        finally:
            self._accepting.release()

    def _refresh(self) -> None:
        assert self.store is not None
        self._next_refresh = time.monotonic() + self.refresh_s
        now = self.clock()
        names = tuple(sorted(c.name for c in self.store.active(now) if c.name not in self._unusable))
        if names != tuple(sorted(self._active_names)):
            self._rebuild()

    # ---------------------------------------------------------------- a pushed document
    def accept(self, envelope: bytes) -> Verdict:
        """Verify, check that this vehicle can run it, store durably, run it now. Never raises."""
        from vehicle_mw.campaign import Verdict

        with self._accepting:
            if self.store is None:
                if not _has(self.keys_dir, "*.pem"):
                    return Verdict(False, "unknown_key", self._no_keys())
                self._open()  # keys were installed since the start
            return self._accept(envelope)

    def _no_keys(self) -> str:
        return f"this vehicle trusts no campaign key (Ed25519 PEM public keys in {self.keys_dir})"

    def _accept(self, envelope: bytes) -> Verdict:
        from vehicle_mw.campaign import CampaignError, Verdict
        from vehicle_mw.campaign.signing import SignatureError, verify

        assert self.store is not None
        if not self.store.keys:
            return Verdict(False, "unknown_key", self._no_keys())
        try:
            signed = verify(envelope, self.store.keys)
        except SignatureError as exc:
            return Verdict(False, exc.code, str(exc), exc.campaign)
        c = signed.campaign
        others = [a for a in self.store.active() if a.name != c.name and a.name not in self._unusable]
        try:
            self._build([*others, c])
        except CampaignError as exc:
            return Verdict(False, "unusable", str(exc), c.name, c.version, signed.sha256)
        verdict = self.store.accept(envelope)
        if verdict.accepted:
            self._unusable.pop(c.name, None)
            self._rebuild()
            log.info(
                "campaign accepted", extra={"campaign": c.name, "version": c.version, "sha256": signed.sha256}
            )
        else:
            log.warning("campaign refused: %s", verdict.message)
        return verdict

    # ---------------------------------------------------------------- the drain's filter
    def select(self, batch: np.ndarray, append: Append) -> int:
        """Run the active campaigns over a batch of fresh samples; append what each selects with its
        priority; return how many samples were stored. The batch holds what every ring had (one
        after the other): it is put in time order first, so a trigger on one bus sees the samples of
        another bus from before it as before it."""
        ts = batch["timestamp_ns"]
        if len(ts) > 1 and not bool((ts[1:] >= ts[:-1]).all()):  # several rings: one time order
            batch = batch[np.argsort(ts, kind="stable")]
        with self._lock:
            cs, names, priority = self._set, self._active_names, self._priority
            if cs is not None:
                try:
                    sel = cs.process(batch)
                except Exception as exc:  # noqa: BLE001 - a campaign must not stop the data
                    log.exception("campaigns stopped: evaluating them failed; uploading everything")
                    for n in names:
                        self._unusable[n] = f"stopped: evaluation failed: {exc!r}"[:500]
                    self._set, self._active_names, self._priority = None, (), np.empty(0, np.int64)
                    cs = None
            if cs is None:  # none active (the last expired since the drain looked, or they failed)
                append(batch, 0)
                return len(batch)
        self.samples_considered += len(batch)
        counts = np.bincount(sel.campaign, minlength=len(names))
        trig = np.bincount(sel.trigger_campaign, minlength=len(names))
        first = self._first_selections(sel.samples) if np.count_nonzero(counts) > 1 else None
        stored = 0
        for k, name in enumerate(names):
            t = self._tally[name]
            t.triggers += int(trig[k])
            t.suppressed += int(sel.suppressed[k])
            t.selected += int(counts[k])
            if not counts[k]:
                continue
            mine = sel.campaign == k
            if first is not None:
                take = mine & first
                t.duplicate += int(counts[k]) - int(np.count_nonzero(take))
                mine = take
            records = sel.samples[mine]
            for start in range(0, len(records), self.max_batch_samples):
                part = records[start : start + self.max_batch_samples]
                if append(part, int(priority[k])):
                    t.stored += len(part)
                    stored += len(part)
                else:  # the bound is full of higher priorities: the outbox refused it
                    t.dropped += len(part)
        self.samples_stored += stored
        return stored

    @staticmethod
    def _first_selections(records: np.ndarray) -> np.ndarray:
        """Mask of each sample's first selection (campaigns are in priority order, highest first)."""
        key = np.empty(len(records), [("src", "<u2"), ("seq", "<u8"), ("sig", "<u4")])
        key["src"], key["seq"], key["sig"] = records["source_id"], records["source_seq"], records["signal_id"]
        _, first = np.unique(key, return_index=True)
        mask = np.zeros(len(records), bool)
        mask[first] = True
        return mask

    # ---------------------------------------------------------------- counters
    def counters(self) -> dict[str, Any]:
        """What the uplink stage's counters show under ``campaigns``."""
        status = self.store.status() if self.store is not None else {}
        per = {}
        for name, st in status.items():
            per[name] = {
                "version": st["version"],
                "sha256": st["sha256"],
                "active": name in self._active_names,
                **(self._tally[name].as_dict() if name in self._tally else {}),
            }
            if name in self._unusable:
                per[name]["unusable"] = self._unusable[name]
        out: dict[str, Any] = {
            "active": len(self._active_names),
            "accepted": len(status),
            "keys": len(self.store.keys) if self.store is not None else 0,
            "samples_considered": self.samples_considered,
            "samples_stored": self.samples_stored,
            "campaigns": per,
        }
        problems = {**self.key_problems, **(self.store.problems if self.store is not None else {})}
        if problems:
            out["problems"] = problems
        return out


__all__ = ["CAMPAIGNS_DIR", "KEYS_DIR", "RuntimeCampaigns", "signal_index"]
