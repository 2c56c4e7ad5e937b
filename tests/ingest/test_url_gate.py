"""The URL gate against every spelling of a refused address, directly and as a redirect target.

Only loopback servers are ever connected to: 127.0.0.1 (denied, or allowed alone to act as
the redirector) and 127.0.0.2 (always denied: the target of redirects). Both count the
requests they see, so "refused" means the server saw nothing. Private, link-local and metadata
addresses are only ever given to the gate's decision, never connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import html as html_lib
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

import pytest

from realsyn.config import FetchConfig
from realsyn.ingest.fetch import Fetcher
from realsyn.ingest.urlgate import (
    AddressPolicy,
    PinnedResolver,
    RefusedAddressError,
    UrlGate,
    Vetted,
)

from .helpers import run_ingest, serving

REFUSED = {"private_address", "invalid_url"}


def loopback_spellings(last: int, port: int) -> list[str]:
    """Ways to write 127.0.0.<last>:port that a lax parser or resolver maps to it."""
    circled = "①②③④⑤⑥⑦⑧⑨"[last - 1]
    fullwidth = chr(ord("０") + last)
    value = 0x7F000000 + last
    hosts = [
        f"１２７.０.０.{fullwidth}", f"127。0。0。{last}", f"127．0．0．{last}",
        f"１２７｡0｡0｡{last}", f"①②⑦.0.0.{circled}", f"{value}", f"{value:#x}",
        f"0{value:o}", f"0177.0.0.{last}", f"0x7f.0.0.{last}", f"0x7f.0x0.0.{last:#x}",
        f"127.{last}", f"127.0.{last}", f"127.000.000.00{last}", f"127.0.0.{last}.",
        f"user@127.0.0.{last}", f"example.com@127.0.0.{last}", f"a:b@127.0.0.{last}",
        f"[::ffff:127.0.0.{last}]", f"[::ffff:7f00:{last}]",
        f"[0:0:0:0:0:ffff:127.0.0.{last}]", f"%31%32%37.0.0.{last}",
    ]
    urls = [f"http://{host}:{port}/good.png" for host in hosts]
    urls += [f"HTTP://127.0.0.{last}:{port}/good.png",
             f"http://127.0.0.{last}:{port}#@example.com/good.png",
             f"http://127.0.0.{last}:{port}\\@example.com/good.png"]
    if last == 1:
        urls += [f"http://localhost:{port}/good.png", f"http://LOCALHOST.:{port}/good.png",
                 f"http://ｌｏｃａｌｈｏｓｔ:{port}/good.png", f"http://0:{port}/good.png",
                 f"http://0.0.0.0:{port}/good.png", f"http://[::]:{port}/good.png",
                 f"http://[::1]:{port}/good.png", f"http://[::ffff:0.0.0.0]:{port}/good.png"]
    return urls


class Recorder(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Host")))
        if self.path.startswith("/redirect?"):
            # The target as written (the client percent-encoded it in the query), sent as raw
            # UTF-8: servers do send such Location headers.
            location = unquote(self.path.split("?", 1)[1])
            self.send_response(302)
            self._headers_buffer.append(f"Location: {location}\r\n".encode())
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@contextlib.contextmanager
def recording_server(address: str):
    with serving(Recorder, address) as httpd:
        httpd.seen = []
        yield httpd


def fetch(urls, **settings):
    config = FetchConfig(**{"timeout_s": 3.0, "retries": 0, **settings})
    return Fetcher(config, 100_000).fetch_all(urls)


def test_loopback_spellings_are_refused_and_never_reach_the_server():
    with recording_server("127.0.0.1") as server:
        port = server.server_address[1]
        urls = loopback_spellings(1, port)
        results = fetch(urls)
        statuses = {url: results[url].status for url in urls}
        assert {url for url, status in statuses.items() if status not in REFUSED} == set()
        assert server.seen == []
        # The same server is reachable when loopback is allowed: the test can fail.
        allowed = fetch([f"http://１２７.０.０.１:{port}/good.png"],
                        allowed_networks=["127.0.0.1/32"])
        assert next(iter(allowed.values())).status == "ok" and len(server.seen) == 1


def test_spellings_as_redirect_targets_are_refused_and_never_reach_the_target():
    with recording_server("127.0.0.1") as redirector, recording_server("127.0.0.2") as target:
        front, port = redirector.server_address[1], target.server_address[1]
        # A backslash would reach the redirector percent-encoded (another URL): direct only.
        targets = [url for url in loopback_spellings(2, port) if "\\" not in url]
        urls = [f"http://127.0.0.1:{front}/redirect?{location}" for location in targets]
        results = fetch(urls, allowed_networks=["127.0.0.1/32"])
        statuses = {url: results[url].status for url in urls}
        assert {url for url, status in statuses.items() if status not in REFUSED} == set()
        assert len(redirector.seen) == len(urls)  # the first hop was made
        assert target.seen == []
        # With the target allowed too, the same redirect arrives: the test can fail.
        allowed = fetch([f"http://127.0.0.1:{front}/redirect?http://127.2:{port}/good.png"],
                        allowed_networks=["127.0.0.1/32", "127.0.0.2/32"])
        assert next(iter(allowed.values())).status == "ok" and len(target.seen) == 1


METADATA_AND_PRIVATE = [
    "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.0.1/", "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://⑯⑨.②⑤④.①⑥⑨.②⑤④/",
    "http://１６９.２５４.１６９.２５４/", "http://2852039166/", "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/", "http://169.254.43518/", "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/", "http://[fd00:ec2::254]/", "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/", "http://[::ffff:10.0.0.1]/", "http://100.100.100.200/",
    "http://224.0.0.1/", "http://255.255.255.255/", "http://[ff02::1]/", "http://192.0.0.170/",
    "http://198.18.0.1/", "http://0.0.0.0/", "http://[::]/",
]


def test_private_link_local_and_metadata_decided_without_connecting():
    gate = UrlGate(AddressPolicy())
    decisions = {url: gate.refusal_without_dns(url) for url in METADATA_AND_PRIVATE}
    assert {url for url, decision in decisions.items() if decision not in REFUSED} == set()
    assert gate.refusal_without_dns("http://93.184.216.34/") is None
    assert gate.refusal_without_dns("http://999.1.1.1/") == "invalid_url"
    assert gate.refusal_without_dns("http://1.2.3.4.5/") == "invalid_url"
    assert gate.refusal_without_dns("http://[::1/") == "invalid_url"
    assert gate.refusal_without_dns("gopher://example.org/") == "unsupported_scheme"


# IPv6 forms that carry a refused IPv4 address (metadata, loopback, private), and IANA
# special-purpose IPv6 ranges that Python 3.11's is_global calls global.
CARRIED_IPV4 = [
    "64:ff9b::a9fe:a9fe",          # NAT64: 169.254.169.254, the cloud metadata service
    "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::169.254.169.254",
    "64:ff9b:1::a9fe:a9fe",        # local-use NAT64 (RFC 8215)
    "2002:7f00:1::", "2002:a9fe:a9fe::", "2002:a00:1:1::1",  # 6to4
    "::7f00:1", "::169.254.169.254", "::a00:1",              # IPv4-compatible
    "::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe",                 # IPv4-translated
    "2001:0:a9fe:a9fe::f7ff:fffe",  # Teredo: server 169.254.169.254, client 8.0.0.1
    "2001:0:808:808:8000:63bf:f5ff:fffe",  # Teredo: obfuscated client 10.0.0.1
    "3fff::1", "5f00::1", "100:0:0:1::1", "2001:2::1",
]
# The same forms carrying a public address reach a public host: they are allowed.
CARRIED_PUBLIC = ["64:ff9b::5db8:d822", "2002:5db8:d822::1", "::ffff:0:5db8:d822",
                  "::ffff:93.184.216.34"]


def test_ipv6_forms_are_decided_on_the_ipv4_address_they_carry():
    gate = UrlGate(AddressPolicy())
    decisions = {host: gate.refusal_without_dns(f"http://[{host}]/latest/meta-data")
                 for host in CARRIED_IPV4 + CARRIED_PUBLIC}
    assert {h for h in CARRIED_IPV4 if decisions[h] != "private_address"} == set()
    assert {h: decisions[h] for h in CARRIED_PUBLIC} == dict.fromkeys(CARRIED_PUBLIC)
    # allowed_networks names the IPv4 network: its NAT64 and 6to4 spellings are allowed too.
    lan = UrlGate(AddressPolicy(allowed_networks=["10.0.0.0/8"]))
    assert lan.refusal_without_dns("http://[64:ff9b::a00:1]/") is None
    assert lan.refusal_without_dns("http://[2002:a00:1::]/") is None
    assert lan.refusal_without_dns("http://[64:ff9b::a9fe:a9fe]/") == "private_address"


def test_names_that_resolve_to_ipv6_forms_of_refused_addresses_are_refused():
    answers = {f"h{i}.example": [address] for i, address in enumerate(CARRIED_IPV4)}
    answers["public.example"] = CARRIED_PUBLIC
    answers["mixed.example"] = ["93.184.216.34", "64:ff9b::a9fe:a9fe"]

    async def resolve(host, port):
        return answers[host]

    gate = UrlGate(AddressPolicy(), resolve)

    async def decide():
        return {host: await gate.vet(f"http://{host}/x.png") for host in answers}

    decisions = asyncio.run(decide())
    assert isinstance(decisions.pop("public.example"), Vetted)
    assert {host for host, decision in decisions.items()
            if decision != "private_address"} == set()
    assert list(gate.pinned) == ["public.example"]


def test_names_are_refused_when_any_resolved_address_is_denied():
    answers = {"metadata.google.internal": ["169.254.169.254"],
               "mixed.example": ["93.184.216.34", "10.0.0.7"],
               "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
               "mapped.example": ["::ffff:127.0.0.1"]}
    asked = []

    async def resolve(host, port):
        asked.append(host)
        return answers[host]

    gate = UrlGate(AddressPolicy(), resolve)

    async def decide():
        return {host: await gate.vet(f"http://{host}/x.png") for host in answers}

    decisions = asyncio.run(decide())
    assert decisions["metadata.google.internal"] == "private_address"
    assert decisions["mixed.example"] == "private_address"
    assert decisions["mapped.example"] == "private_address"
    assert isinstance(decisions["public.example"], Vetted)
    assert sorted(asked) == sorted(answers)
    assert gate.pinned == {"public.example": answers["public.example"]}


def test_connector_only_connects_to_vetted_addresses():
    gate = UrlGate(AddressPolicy())
    resolver = PinnedResolver(gate)
    with pytest.raises(RefusedAddressError):
        asyncio.run(resolver.resolve("never-vetted.example", 80))
    gate.pinned["public.example"] = ["93.184.216.34"]
    entries = asyncio.run(resolver.resolve("public.example", 443))
    assert [(e["host"], e["port"], e["hostname"]) for e in entries] == [
        ("93.184.216.34", 443, "public.example")]


def test_a_vetted_name_is_connected_to_its_pinned_address_with_its_host_header():
    with recording_server("127.0.0.1") as server:
        port = server.server_address[1]

        async def resolve(host, _port):
            return ["127.0.0.1"] if host == "images.test" else []

        config = FetchConfig(timeout_s=3.0, retries=0, allowed_networks=["127.0.0.1/32"])
        url = f"http://images.test:{port}/good.png"
        result = Fetcher(config, 100_000, resolve=resolve).fetch_all([url])[url]
        assert result.status == "ok"
        assert server.seen == [("/good.png", f"images.test:{port}")]


def test_reader_supplied_sources_go_through_the_gate(tmp_path):
    with recording_server("127.0.0.1") as server:
        port = server.server_address[1]
        spellings = [url for url in loopback_spellings(1, port) if "\\" not in url]
        folder = tmp_path / "in"
        folder.mkdir()
        images = "".join(f'<img src="{html_lib.escape(url)}">' for url in spellings)
        (folder / "page.html").write_text(f"<p>A page of hostile images.</p>{images}")
        (folder / "list.urls").write_text("\n".join(spellings) + "\n")
        workspace, _ = run_ingest(tmp_path / "ws", [{"path": str(folder)}],
                                  fetch={"enabled": True, "timeout_s": 3, "retries": 0})
        statuses = workspace.read_dataset("images")["status"].to_pylist()
        assert len(statuses) >= 2 * len(spellings) - 4  # the list drops the unparsable lines
        assert set(statuses) <= REFUSED
        assert server.seen == []
