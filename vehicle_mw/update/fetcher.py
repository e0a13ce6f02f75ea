"""How the vehicle fetches metadata and targets: ngclient's ``FetcherInterface``, swappable.

Today the default is HTTP (python-tuf's urllib3 fetcher). Serving over the vehicle link (a
later milestone) is another ``FetcherInterface`` whose ``_fetch(url)`` asks the gateway over the
existing session and yields the chunks; nothing else in the client changes. ``CountingFetcher``
wraps any fetcher and counts requests and bytes (what an update costs a vehicle).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from tuf.ngclient import FetcherInterface
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher


def http_fetcher(timeout_s: int = 30) -> FetcherInterface:
    """The default HTTP fetcher (urllib3; timeout per connect and per read gap)."""
    return Urllib3Fetcher(socket_timeout=timeout_s, app_user_agent="vehicle_mw-update")


class CountingFetcher(FetcherInterface):
    """Delegates to ``inner`` and counts requests and bytes received."""

    def __init__(self, inner: FetcherInterface | None = None) -> None:
        self.inner = inner or http_fetcher()
        self.requests = 0
        self.bytes = 0
        self._lock = threading.Lock()

    def _fetch(self, url: str) -> Iterator[bytes]:
        with self._lock:
            self.requests += 1
        for chunk in self.inner.fetch(url):
            with self._lock:
                self.bytes += len(chunk)
            yield chunk
