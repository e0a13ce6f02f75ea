"""How the vehicle fetches metadata and targets: ngclient's ``FetcherInterface``, swappable.

Today the default is HTTP (python-tuf's urllib3 fetcher). Serving over the vehicle link (a
later milestone) is another ``FetcherInterface`` whose ``_fetch(url)`` asks the gateway over the
existing session and yields the chunks; nothing else in the client changes. ``CountingFetcher``
wraps any fetcher and counts requests and bytes (what an update costs a vehicle).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from tuf.api.exceptions import DownloadLengthMismatchError
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


class LimitedFetcher(FetcherInterface):
    """Delegates to ``inner`` but never reads more than ``limit(url)`` bytes of one URL.

    ngclient bounds a download by the length signed metadata declares, falling back to its
    configured maximum only when none is declared; a compromised online key can declare a huge
    length. This bound is the vehicle's own and holds whatever the metadata says.
    """

    def __init__(self, inner: FetcherInterface, limit: Callable[[str], int | None]) -> None:
        self.inner = inner
        self.limit = limit

    def _fetch(self, url: str) -> Iterator[bytes]:
        cap = self.limit(url)
        got = 0
        for chunk in self.inner.fetch(url):
            got += len(chunk)
            if cap is not None and got > cap:
                raise DownloadLengthMismatchError(f"{url}: more than this vehicle's limit of {cap} B")
            yield chunk
