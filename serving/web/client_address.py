"""Whose request is it: the client's address behind load balancers and proxies.

A forwarding header such as X-Forwarded-For is a list every proxy appends to: the left
entries are whatever the caller wrote. So the client is the right-most address that is not
one of our own proxies: walk from the connection's peer leftwards, past every trusted hop
(the peer itself, when a header is configured, and `ENGAGE_API_TRUSTED_PROXIES`), and take
the first address no trusted proxy would have written. An entry that is not an address
ends the walk there (a caller's garbage is never taken for a client). Without a header
configured the connection's peer is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ClientAddress:
    header: str | None = None
    trusted: tuple[Network, ...] = ()

    @classmethod
    def of(cls, header: str | None, trusted: Sequence[str]) -> ClientAddress:
        return cls(header, tuple(ipaddress.ip_network(n, strict=False) for n in trusted))

    def resolve(self, peer: str | None, forwarded: str | None) -> str:
        """The client's address, from the connection's `peer` and the header's value."""
        peer = peer or "unknown"
        if self.header is None or not forwarded:
            return peer
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        # The peer is the proxy the header is configured for: the entry it appended is the
        # next hop; from there leftwards, only what a trusted proxy appended is believed.
        client = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break
            client = address
            if not self._trusted(address):
                break
        return client

    def _trusted(self, address: str) -> bool:
        parsed = _ip(address)
        return parsed is not None and any(parsed in network for network in self.trusted)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _address(hop: str) -> str | None:
    """The address of one header entry (`[v6]:port` and `v4:port` forms too), or None."""
    text = hop
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    parsed = _ip(text)
    return None if parsed is None else str(parsed)
