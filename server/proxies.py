"""X-Forwarded-* headers believed only from the proxies named in TRUSTED_PROXY_IPS.

Per-address rate limits (login, feedback, photo verification) and the /metrics allow-list
read the client's address. A client reaching gunicorn directly could otherwise write any
address into X-Forwarded-For; here a hop counts only when the address that sent it is a
configured proxy, up to TRUSTED_PROXIES hops.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    """'127.0.0.1,10.0.0.0/8' → networks (a bare address is a network of one)."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip()]


def address_in(address: str | None, networks: Iterable[Network]) -> bool:
    """True when `address` is a valid IP inside one of `networks`."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


class TrustedProxies:
    """WSGI middleware: ProxyFix for as many hops as were sent by trusted proxies, none otherwise."""

    def __init__(self, app: Any, hops: int, networks: list[Network]) -> None:
        self.app = app
        self.hops = hops
        self.networks = networks
        self._fixes = {n: ProxyFix(app, x_for=n, x_proto=n, x_host=n) for n in range(1, hops + 1)}

    def trusted_hops(self, environ: dict[str, Any]) -> int:
        """How many X-Forwarded-* entries to believe: 0 unless the direct peer is a trusted proxy."""
        if not address_in(environ.get("REMOTE_ADDR"), self.networks):
            return 0
        chain = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        hops = 1
        # A further hop counts only when the address the previous proxy saw is a proxy too
        # (a load balancer in front of nginx), never because the client said so.
        while hops < self.hops and hops <= len(chain) and address_in(chain[-hops], self.networks):
            hops += 1
        return hops

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Serve the request with the forwarded headers believed as far as they are trustworthy."""
        hops = self.trusted_hops(environ)
        if not hops:
            return self.app(environ, start_response)
        return self._fixes[hops](environ, start_response)
