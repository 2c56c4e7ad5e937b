"""The one gate every URL the project opens goes through (fetched images, their redirects,
image sources supplied by readers).

The URL is parsed once, with yarl, the parser aiohttp itself uses, so the host that is checked
is the host the client would connect to: yarl applies IDNA/NFKC (fullwidth and circled digits,
ideographic full stops), brackets IPv6 literals and drops userinfo. The host is then decided
here, without trusting any later component to interpret it again:
- an IPv4/IPv6 literal is checked as it is (an IPv6 form that carries an IPv4 address, NAT64,
  6to4, Teredo, mapped, translated, compatible, is checked on that address too), and so is
  `localhost` (RFC 6761: loopback whatever the resolver says);
- a host whose last label is a number is an IPv4 address in the legacy notations that
  inet_aton and getaddrinfo accept (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1, short
  127.1): it is converted and checked, and refused as `invalid_url` when it is no address;
- any other name is resolved, and *every* address it resolves to must be allowed.
The vetted addresses are pinned: the connector's resolver (`PinnedResolver`) answers only
with them, so the connection goes to the address that was checked (DNS rebinding between the
check and the connect cannot happen) while Host and TLS SNI keep the original name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import yarl
from aiohttp.abc import AbstractResolver

from realsyn.ingest.special_addresses import Address, embedded_ipv4, special_purpose

SCHEMES = frozenset({"http", "https"})
MAX_URL_CHARS = 8192
INVALID_URL = "invalid_url"
PRIVATE_ADDRESS = "private_address"
UNSUPPORTED_SCHEME = "unsupported_scheme"
# The last label decides whether a host is numeric (WHATWG's "ends in a number").
_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)")
# A host name after IDNA is ASCII letters, digits, dots, hyphens (and underscores seen in the
# wild); anything else (percent escapes, spaces) is a host the resolver would interpret.
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")

Resolve = Callable[[str, int], Awaitable[list[str]]]


class AddressPolicy:
    """Which IP addresses may be connected to."""

    def __init__(self, allow_private: bool = False, allowed_networks: Iterable[str] = ()):
        self.allow_private = allow_private
        self.networks = [ipaddress.ip_network(net, strict=False) for net in allowed_networks]

    def allowed(self, address: str | Address) -> bool:
        ip = address if not isinstance(address, str) else ipaddress.ip_address(
            address.split("%", 1)[0])
        if self.allow_private or any(ip in network for network in self.networks):
            return True
        # An IPv6 form that carries an IPv4 address (NAT64, 6to4, Teredo, mapped) reaches that
        # host: the carried address must be allowed too ([64:ff9b::a9fe:a9fe] is the metadata
        # service of a DNS64 network).
        carried = embedded_ipv4(ip)
        if carried and not all(self.allowed(v4) for v4 in carried):
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return True  # decided on the IPv4 address it maps (::ffff:0:0/96 is "reserved")
        # The IANA special-purpose ranges, then Python's own view (private, reserved, ...).
        return not special_purpose(ip) and ip.is_global and not ip.is_multicast


class RefusedAddressError(OSError):
    """A connection to a host the gate did not vet (or refused)."""


def parse_url(url: str) -> yarl.URL | str:
    """The URL as the HTTP client will see it, or the reason it may not be requested."""
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        return INVALID_URL
    try:
        parsed = yarl.URL(url.strip())
        _ = parsed.port  # raises on a malformed port
        host = parsed.raw_host
    except (ValueError, TypeError, UnicodeError):
        return INVALID_URL
    if (parsed.scheme or "").lower() not in SCHEMES:
        return UNSUPPORTED_SCHEME
    if not host or parsed.port is None or not 0 < parsed.port < 65536:
        return INVALID_URL
    if ":" not in host and not _HOST_NAME.fullmatch(host):
        return INVALID_URL
    return parsed


def literal_address(host: str) -> Address | str | None:
    """The address a host names without DNS; INVALID_URL for a numeric host that is no
    address; None for a name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if ":" in bare:
        return INVALID_URL
    name = bare.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return ipaddress.IPv4Address("127.0.0.1")  # RFC 6761: always loopback
    labels = bare.rstrip(".").split(".") if bare.rstrip(".") else [""]
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    try:  # inet_aton: the legacy notations the system resolver would accept as well
        return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
    except (OSError, ValueError):
        return INVALID_URL


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for a host (as the connector would ask)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


@dataclass
class Vetted:
    url: yarl.URL
    addresses: list[str]


class UrlGate:
    """Parses, normalises, resolves and checks URLs; remembers what it vetted (`pinned`)."""

    def __init__(self, policy: AddressPolicy, resolve: Resolve = system_resolve):
        self.policy = policy
        self.resolve = resolve
        self.pinned: dict[str, list[str]] = {}

    def refusal_without_dns(self, url: str) -> str | None:
        """The decision that needs no resolver: None when the host is a name to resolve or an
        allowed literal."""
        parsed = parse_url(url)
        if isinstance(parsed, str):
            return parsed
        literal = literal_address(parsed.raw_host)
        if isinstance(literal, str):
            return literal
        return None if literal is None or self.policy.allowed(literal) else PRIVATE_ADDRESS

    async def vet(self, url: str) -> Vetted | str:
        """The URL with the addresses it may be connected to, or the reason it is refused."""
        refusal = self.refusal_without_dns(url)
        if refusal:
            return refusal
        parsed = parse_url(url)
        assert isinstance(parsed, yarl.URL)
        host = parsed.raw_host
        literal = literal_address(host)
        if literal is not None:
            addresses = [str(literal)]
            if addresses[0] != host:  # legacy notation: request the checked address itself
                parsed = parsed.with_host(addresses[0])
                host = parsed.raw_host
        else:
            try:
                addresses = await self.resolve(host, parsed.port)
            except (OSError, UnicodeError):
                return "dns_error"
            if not addresses:
                return "dns_error"
            try:
                if not all(self.policy.allowed(address) for address in addresses):
                    return PRIVATE_ADDRESS
            except ValueError:
                return PRIVATE_ADDRESS
        self.pinned[host] = addresses
        return Vetted(parsed, addresses)


class PinnedResolver(AbstractResolver):
    """The connector's resolver: only the addresses the gate vetted for a host, never a
    fresh lookup, so what is connected to is what was checked."""

    def __init__(self, gate: UrlGate):
        self.gate = gate

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        addresses = self.gate.pinned.get(host)
        if not addresses:
            raise RefusedAddressError(f"{host} was not vetted by the URL gate")
        entries = []
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            entries.append({"hostname": host, "host": str(ip), "port": port,
                            "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                            "proto": 0, "flags": socket.AI_NUMERICHOST})
        return entries

    async def close(self) -> None:
        pass
