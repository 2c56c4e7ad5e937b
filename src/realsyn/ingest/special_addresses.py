"""The special-purpose address ranges the URL gate refuses, and the IPv4 addresses that IPv6
forms embed.

Python's `is_global` follows the IANA registries of the Python release it ships with (3.11.7
calls 64:ff9b:1::/48, 3fff::/20 and 5f00::/16 global), so the gate keeps its own table taken
from the IANA IPv4 and IPv6 Special-Purpose Address Registries, and uses `is_global` only as a
second opinion. An IPv6 address that carries an IPv4 address (NAT64, 6to4, Teredo, the mapped,
translated and compatible forms) reaches that IPv4 host through a translator or a tunnel: the
gate decides on the IPv4 address as well (`embedded_ipv4`).
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# (range, why it is refused). Ranges IANA marks "globally reachable" are not here.
REFUSED_RANGES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network (0.0.0.0 reaches the local host)"),
    ("10.0.0.0/8", "private use"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata services)"),
    ("172.16.0.0/12", "private use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private use"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (and 255.255.255.255, limited broadcast)"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation (its IPv4 position depends on the "
                       "operator's prefix length, so it cannot be decoded)"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"),
    ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID)"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "deprecated site-local"),
    ("ff00::/8", "multicast"),
)
# Parts of refused ranges that IANA marks globally reachable (anycast services).
GLOBAL_EXCEPTIONS: tuple[str, ...] = (
    "192.0.0.9/32", "192.0.0.10/32", "2001:1::1/128", "2001:1::2/128", "2001:1::3/128",
    "2001:3::/32", "2001:4:112::/48", "2001:20::/28", "2001:30::/28")

_REFUSED: tuple[Network, ...] = tuple(ipaddress.ip_network(net) for net, _ in REFUSED_RANGES)
_EXCEPTIONS: tuple[Network, ...] = tuple(ipaddress.ip_network(net) for net in GLOBAL_EXCEPTIONS)

# IPv6 forms whose last 32 bits are an IPv4 address.
_LOW_32_FORMS: tuple[ipaddress.IPv6Network, ...] = tuple(ipaddress.IPv6Network(net) for net in (
    "::ffff:0:0/96",     # IPv4-mapped
    "::ffff:0:0:0/96",   # IPv4-translated (SIIT)
    "::/96",             # IPv4-compatible (deprecated)
    "64:ff9b::/96",      # NAT64 well-known prefix: DNS64 networks reach any IPv4 host by it
))


def embedded_ipv4(ip: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through a translator or tunnel: NAT64,
    IPv4-mapped, -translated and -compatible (the last 32 bits), 6to4 (2002:V4ADDR::/48) and
    Teredo (its server, and its client with the bits inverted). Empty for any other address."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if any(ip in form for form in _LOW_32_FORMS):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def special_purpose(ip: Address) -> bool:
    """Whether an address is in a range the IANA registries do not call globally reachable."""
    if any(ip in network for network in _EXCEPTIONS):
        return False
    return any(ip in network for network in _REFUSED)
