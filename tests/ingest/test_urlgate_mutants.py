"""The URL gate tested alone (scripts/mutation.py mutates realsyn/ingest/urlgate.py): the system
resolver it asks and the pinned resolver it gives the HTTP connector."""

from __future__ import annotations

import asyncio
import socket

import pytest

from realsyn.ingest.urlgate import (
    INVALID_URL,
    UNSUPPORTED_SCHEME,
    AddressPolicy,
    PinnedResolver,
    RefusedAddressError,
    UrlGate,
    parse_url,
    system_resolve,
)


def test_urls_parse_or_give_the_reason():
    assert str(parse_url(" http://example.com/a.png ")) == "http://example.com/a.png"
    assert parse_url("ftp://example.com/a.png") == UNSUPPORTED_SCHEME
    assert parse_url(b"http://example.com") == INVALID_URL


@pytest.mark.parametrize("host", ["192.0.2.1", "2001:db8::1"])
def test_the_system_resolver_gives_each_address_once(host):
    # numeric hosts: answered by getaddrinfo itself, no DNS; one stream socket address each
    assert asyncio.run(system_resolve(host, 443)) == [host]


def test_a_port_the_system_resolver_refuses_is_an_error():
    with pytest.raises(OSError):  # vet() reports it as a DNS error
        asyncio.run(system_resolve("192.0.2.1", -1))


def entry(address: str, port: int, family: int) -> dict:
    return {"hostname": "example.com", "host": address, "port": port, "family": family,
            "proto": 0, "flags": socket.AI_NUMERICHOST}


def test_the_pinned_resolver_answers_only_with_the_vetted_addresses():
    gate = UrlGate(AddressPolicy())
    gate.pinned["example.com"] = ["192.0.2.1", "2001:db8::1", "fe80::1%a%b"]
    resolver = PinnedResolver(gate)
    assert asyncio.run(resolver.resolve("example.com")) == [
        entry("192.0.2.1", 0, socket.AF_INET), entry("2001:db8::1", 0, socket.AF_INET6),
        entry("fe80::1", 0, socket.AF_INET6)]  # without its zone
    assert [e["port"] for e in asyncio.run(resolver.resolve("example.com", 8443))] == [8443] * 3
    with pytest.raises(RefusedAddressError) as refused:
        asyncio.run(resolver.resolve("other.example", 80))
    assert str(refused.value) == "other.example was not vetted by the URL gate"
    asyncio.run(resolver.close())
