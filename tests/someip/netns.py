"""Two network namespaces joined by a veth pair, with a multicast route, for SOME/IP tests.

Names are unique per test session (pid-based) and everything is deleted on close.
"""

from __future__ import annotations

import os
import subprocess


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class NetnsPair:
    """``a`` and ``b`` namespaces; ``ip_a``/``ip_b`` their addresses on the shared /24."""

    def __init__(self, tag: str = "") -> None:
        suffix = f"{os.getpid() % 100000}{tag}"
        self.ns_a, self.ns_b = f"vmw_sa{suffix}", f"vmw_sb{suffix}"
        self.veth_a, self.veth_b = f"vsa{suffix}"[:15], f"vsb{suffix}"[:15]
        subnet = 200 + (os.getpid() % 50)
        self.ip_a, self.ip_b = f"10.{subnet}.77.1", f"10.{subnet}.77.2"

    def create(self) -> NetnsPair:
        try:
            _ip("netns", "add", self.ns_a)
            _ip("netns", "add", self.ns_b)
            _ip("link", "add", self.veth_a, "type", "veth", "peer", "name", self.veth_b)
            for ns, dev, ip in ((self.ns_a, self.veth_a, self.ip_a), (self.ns_b, self.veth_b, self.ip_b)):
                _ip("link", "set", dev, "netns", ns)
                _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up", "multicast", "on")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        except Exception:
            self.delete()
            raise
        return self

    def exec_prefix(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    def delete(self) -> None:
        for ns in (self.ns_a, self.ns_b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
