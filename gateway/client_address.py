"""Who the client is: the peer address, unless the peer is a proxy the configuration trusts.

``X-Forwarded-For`` (and ``-Proto`` / ``-Host``) can be sent by anyone, so believing it from every client
lets a caller choose the address that ``rate-limit-by-key`` counts by, or the URL a rewritten agent card
names. The gateway believes them only from ``security.trusted-proxies``: the client is then the rightmost
address of the forwarded chain that is not itself a trusted proxy (the first hop no trusted proxy
vouches for), as nginx's ``real_ip_recursive`` and Envoy's ``xff_num_trusted_hops`` decide.
"""

from __future__ import annotations

import functools
import ipaddress

Headers = list[tuple[bytes, bytes]]


class ClientAddress:
    def __init__(self, trusted: list[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)

    @functools.lru_cache(maxsize=4096)
    def trusts(self, address: str) -> bool:
        if not self.networks or not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, peer: str, headers: Headers) -> str:
        """The client's address for ``peer`` with these request headers."""
        if not self.trusts(peer):
            return peer
        chain = [hop.strip() for name, value in headers if name == b"x-forwarded-for"
                 for hop in value.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(chain):
            if not self.trusts(hop):
                return hop
        return chain[0] if chain else peer
