"""Fetcher edges the outcome test leaves open, against a loopback server: exact limits
(redirect hops, byte counts), what each result carries, the retry schedule and which
statuses are transient."""

from __future__ import annotations

import asyncio
import socket
from itertools import pairwise
from typing import ClassVar

import pytest
import yarl

from realsyn.config import FetchConfig
from realsyn.ingest import fetch as fetch_module
from realsyn.ingest.fetch import Fetcher, transient
from realsyn.ingest.urlgate import RefusedAddressError, UrlGate, Vetted

from . import test_fetch as fetch_test
from .helpers import serving

BODY = bytes(range(256)) * 4
SIZE = len(BODY)


class Handler(fetch_test.Handler):  # its quiet log and _send, other routes
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self):
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        if self.path.startswith("/hops/"):  # /hops/3 redirects 3 times, then serves BODY
            left = int(self.path.rsplit("/", 1)[1])
            if left:
                self._send(302, headers={"Location": f"/hops/{left - 1}"})
            else:
                self._send(200, BODY, {"Content-Type": "application/octet-stream"})
        elif self.path == "/declared":
            self._send(200, BODY, {"Content-Type": "image/png"})
        elif self.path == "/chunked":
            self._send(200, BODY, length=False)
        elif self.path == "/no-location":
            self._send(302)
        elif self.path == "/bad-location":
            self._send(302, headers={"Location": "http://[zz/"})
        elif self.path.startswith("/status/"):
            self._send(int(self.path.rsplit("/", 1)[1]), b"x", {"Content-Type": "text/plain"})
        else:
            self._send(404)


@pytest.fixture(scope="module")
def server():
    with serving(Handler) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


def _fetch(urls, max_bytes=SIZE, **settings):
    config = FetchConfig(**{"timeout_s": 5.0, "retries": 0, "backoff_s": 0.01,
                            "allowed_networks": ["127.0.0.1/32"], **settings})
    return Fetcher(config, max_bytes).fetch_all(urls)


def test_exactly_max_redirects_hops_are_followed(server):
    results = _fetch([f"{server}/hops/2", f"{server}/hops/3"], max_redirects=2)
    ok, over = results[f"{server}/hops/2"], results[f"{server}/hops/3"]
    assert (ok.status, ok.data, ok.final_url) == ("ok", BODY, f"{server}/hops/0")
    assert ok.content_type == "application/octet-stream" and ok.attempts == 1
    assert (over.status, over.data, over.final_url) == (
        "too_many_redirects", None, f"{server}/hops/0")  # the hop it would have taken


def test_a_body_of_exactly_the_limit_is_kept_and_one_byte_more_is_not(server):
    urls = [f"{server}/declared", f"{server}/chunked"]
    assert {u: r.status for u, r in _fetch(urls).items()} == dict.fromkeys(urls, "ok")
    assert all(r.data == BODY for r in _fetch(urls).values())
    assert {u: r.status for u, r in _fetch(urls, max_bytes=SIZE - 1).items()} == \
        dict.fromkeys(urls, "too_large")
    declared = _fetch(urls[:1], max_bytes=10)[urls[0]]
    assert (declared.content_type, declared.final_url) == ("image/png", urls[0])


def test_broken_redirects_and_error_statuses_name_themselves(server):
    results = _fetch([f"{server}/no-location", f"{server}/bad-location", f"{server}/status/418"])
    assert {u.rsplit("/", 1)[1]: (r.status, r.final_url) for u, r in results.items()} == {
        "no-location": ("redirect_without_location", f"{server}/no-location"),
        "bad-location": ("invalid_url", "http://[zz/"),
        "418": ("http_418", f"{server}/status/418")}
    assert results[f"{server}/status/418"].content_type == "text/plain"


def test_retries_back_off_exponentially_then_give_up(server, monkeypatch):
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded(delay, *args, **kwargs):
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(fetch_module.asyncio, "sleep", recorded)
    Handler.hits.clear()
    url = f"{server}/status/503"
    result = _fetch([url, url], retries=3, backoff_s=0.5)[url]  # duplicates fetched once
    assert (result.status, result.attempts) == ("http_503", 4)
    assert delays == [0.5, 1.0, 2.0]
    assert Handler.hits == {"/status/503": 4}
    assert _fetch([f"{server}/status/404"], retries=3)[f"{server}/status/404"].attempts == 1


def test_transient_statuses():
    assert [transient(s) for s in ("timeout", "connection_error", "http_429", "http_500",
                                   "http_503", "http_599")] == [True] * 6
    assert [transient(s) for s in ("http_404", "http_428", "http_5", "http_50", "ok",
                                   "too_large", "private_address")] == [False] * 7


def test_no_urls_fetch_nothing():
    assert Fetcher(FetchConfig(), 10).fetch_all([]) == {}


def test_a_refused_connection_is_not_a_private_address(server):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/x.png"
    result = _fetch([url], retries=1)[url]
    assert (result.status, result.attempts) == ("connection_error", 2)


def test_a_host_the_gate_did_not_pin_is_never_connected(server, monkeypatch):
    # Should the gate ever hand out a URL without pinning its host, the connector's resolver
    # still refuses the connection, and the status says why.
    async def vet_without_pinning(self, url):
        return Vetted(yarl.URL(url), ["127.0.0.1"])

    monkeypatch.setattr(UrlGate, "vet", vet_without_pinning)
    url = server.replace("127.0.0.1", "localhost") + "/declared"
    Handler.hits.clear()
    result = _fetch([url])[url]
    assert (result.status, result.data) == ("private_address", None)
    assert Handler.hits == {}


def test_a_refusal_is_found_however_deep_the_client_wrapped_it():
    # aiohttp wraps the connector's error, which may wrap the gate's refusal in turn
    def chain(*errors: BaseException) -> BaseException:
        for outer, inner in pairwise(errors):
            outer.__cause__ = inner
        return errors[0]

    refused = RefusedAddressError("169.254.169.254 was not vetted")
    assert fetch_module._refused(chain(RuntimeError("client"), OSError("connect"), refused))
    assert not fetch_module._refused(chain(RuntimeError("client"), OSError("connect")))
