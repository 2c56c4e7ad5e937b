"""Property-based tests of the URL gate: any string gets a decision without an exception, and
a refused address stays refused however it is spelled (decided without connecting)."""

from __future__ import annotations

import asyncio
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from realsyn.ingest.special_addresses import embedded_ipv4, special_purpose
from realsyn.ingest.urlgate import AddressPolicy, UrlGate, Vetted, parse_url

FUZZ = settings(max_examples=300, deadline=None)
REFUSED = {"private_address", "invalid_url"}
FULLWIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")
DOTS = ["。", "．", "｡"]


def spell(address: ipaddress.IPv4Address, how: str, dot: str) -> str:
    """One of the notations a lax parser or the system resolver maps back to the address."""
    value = int(address)
    octets = str(address).split(".")
    return {
        "dotted": str(address),
        "fullwidth": str(address).translate(FULLWIDTH),
        "ideographic": dot.join(octets),
        "decimal": str(value),
        "hex": hex(value),
        "octal": "0" + format(value, "o"),
        "octal_octets": ".".join("0" + format(int(o), "o") for o in octets),
        "hex_octets": ".".join(hex(int(o)) for o in octets),
        "short": f"{octets[0]}.{value & 0xFFFFFF}",
        "trailing_dot": str(address) + ".",
        "userinfo": f"user:pw@{address}",
        "mapped": f"[::ffff:{address}]",
        "nat64": f"[64:ff9b::{address}]",
        "6to4": f"[2002:{value >> 16:x}:{value & 0xFFFF:x}::1]",
        "compatible": f"[::{address}]",
        "translated": f"[::ffff:0:{address}]",
    }[how]


HOW = st.sampled_from(["dotted", "fullwidth", "ideographic", "decimal", "hex", "octal",
                       "octal_octets", "hex_octets", "short", "trailing_dot", "userinfo",
                       "mapped", "nat64", "6to4", "compatible", "translated"])


def public(ip: ipaddress.IPv4Address) -> bool:
    """Global for Python and outside the IANA special-purpose ranges."""
    return ip.is_global and not ip.is_multicast and not special_purpose(ip)


NOT_GLOBAL = st.ip_addresses(v=4).filter(lambda ip: not public(ip))
GLOBAL = st.ip_addresses(v=4).filter(public)


@FUZZ
@given(st.text(max_size=200))
def test_any_string_gets_a_decision(text):
    gate = UrlGate(AddressPolicy())
    assert gate.refusal_without_dns(text) in (None, *REFUSED, "unsupported_scheme")
    assert gate.refusal_without_dns("http://" + text) in (None, *REFUSED, "unsupported_scheme")


@FUZZ
@given(NOT_GLOBAL, HOW, st.sampled_from(DOTS), st.integers(1, 65535))
def test_refused_addresses_stay_refused_in_every_spelling(address, how, dot, port):
    url = f"http://{spell(address, how, dot)}:{port}/image.png"
    assert UrlGate(AddressPolicy()).refusal_without_dns(url) in REFUSED, url


@FUZZ
@given(GLOBAL, HOW, st.sampled_from(DOTS))
def test_public_addresses_are_pinned_to_the_same_address_in_every_spelling(address, how, dot):
    url = f"http://{spell(address, how, dot)}/image.png"

    async def no_dns(host, port):  # literals never need the resolver
        raise AssertionError(f"resolver asked for {host}")

    def unmapped(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        ip = ipaddress.ip_address(text)
        return next(iter(embedded_ipv4(ip)), ip)  # an IPv6 form is pinned as written

    vetted = asyncio.run(UrlGate(AddressPolicy(), no_dns).vet(url))
    assert isinstance(vetted, Vetted), (url, vetted)
    assert [unmapped(a) for a in vetted.addresses] == [address]
    assert unmapped(vetted.url.raw_host) == address  # what is requested is what was checked


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_parsed_hosts_are_plain_ascii(host):
    parsed = parse_url(f"https://{host}/x")
    if not isinstance(parsed, str):
        assert parsed.raw_host.isascii()
