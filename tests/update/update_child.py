"""A vehicle update cycle in its own process that freezes at one named point until SIGKILLed.

argv[1]: JSON {url, state, install_root, block_at, nth, marker}. ``block_at`` is an installer
checkpoint (member, extracted, installed, journal, stopped, switched, started, committed) or
``download`` (after the first chunk of a target arrived). The marker file names the point once
the process is frozen there; it holds "done" if the cycle finished.
"""

from __future__ import annotations

import collections
import json
import pathlib
import sys
import time
from collections.abc import Iterator

from tuf.ngclient import FetcherInterface
from update_rig import ECUS, VIN

from vehicle_mw.update import Installer, NullHook, UpdateClient, VehicleConfig, http_fetcher

cfg = json.loads(sys.argv[1])
marker = pathlib.Path(cfg["marker"])
seen: collections.Counter[str] = collections.Counter()


def freeze(point: str) -> None:
    marker.write_text(point)
    while True:
        time.sleep(60)


def checkpoint(name: str) -> None:
    seen[name] += 1
    if name == cfg["block_at"] and seen[name] == cfg.get("nth", 1):
        freeze(name)


class FreezingFetcher(FetcherInterface):
    def __init__(self) -> None:
        self.inner = http_fetcher()

    def _fetch(self, url: str) -> Iterator[bytes]:
        for chunk in self.inner.fetch(url):
            yield chunk
            if cfg["block_at"] == "download" and "/image/targets/" in url:
                freeze("download")


client = UpdateClient(
    VehicleConfig.for_server(cfg["url"], VIN, ECUS, pathlib.Path(cfg["state"])),
    Installer(cfg["install_root"], checkpoint=checkpoint),
    FreezingFetcher(),
)
outcome = client.update(NullHook(), lambda packages: True, grace_s=0.0)
marker.write_text("done " + outcome.status)
