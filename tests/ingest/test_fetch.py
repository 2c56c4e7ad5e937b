"""The image fetcher against a local HTTP server: every outcome lands in the status."""

from __future__ import annotations

import contextlib
import io
import time
from http.server import BaseHTTPRequestHandler

import pytest
from PIL import Image

from realsyn.config import FetchConfig
from realsyn.ingest.fetch import AddressPolicy, Fetcher
from realsyn.ingest.urlgate import UrlGate

from .helpers import run_ingest, serving


def _png(size=(64, 48), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


GOOD = _png()
BIG = _png((400, 400), (1, 2, 3)) + b"\0" * 200_000  # a valid PNG with trailing padding


class Handler(BaseHTTPRequestHandler):
    flaky_hits = 0

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              length: bool = True) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The fetcher may stop reading (too large, timeout): expected.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_GET(self):
        port = self.server.server_address[1]
        routes = {
            "/good.png": lambda: self._send(200, GOOD, {"Content-Type": "image/png"}),
            "/missing.png": lambda: self._send(404, b"no"),
            "/big-declared.png": lambda: self._send(200, BIG),
            "/big-chunked.png": lambda: self._send(200, BIG, length=False),
            "/not-image.jpg": lambda: self._send(200, b"<html>hello</html>"),
            "/to-good": lambda: self._send(302, headers={"Location": "/good.png"}),
            "/to-private": lambda: self._send(302, headers={"Location": "http://10.1.2.3/x.png"}),
            "/to-other-loopback": lambda: self._send(
                302, headers={"Location": f"http://127.0.0.2:{port}/good.png"}),
            "/to-file": lambda: self._send(302, headers={"Location": "file:///etc/passwd"}),
            "/loop": lambda: self._send(302, headers={"Location": "/loop"}),
        }
        if self.path == "/slow.png":
            time.sleep(8)  # far past the timeout, whatever the machine load
            self._send(200, GOOD)
        elif self.path == "/flaky.png":
            Handler.flaky_hits += 1
            self._send(503 if Handler.flaky_hits < 2 else 200, GOOD)
        elif self.path in routes:
            routes[self.path]()
        else:
            self._send(404)


@pytest.fixture(scope="module")
def server():
    with serving(Handler) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


def _fetch(urls, max_bytes=100_000, **settings):
    config = FetchConfig(**{"timeout_s": 2.0, "retries": 0, "backoff_s": 0.01, **settings})
    return Fetcher(config, max_bytes).fetch_all(urls)


def test_outcomes_with_local_servers_allowed(server):
    names = ["good.png", "missing.png", "slow.png", "big-declared.png", "big-chunked.png",
             "to-good", "to-private", "to-file", "loop", "not-image.jpg"]
    results = _fetch([f"{server}/{name}" for name in names], allowed_networks=["127.0.0.0/8"],
                     max_redirects=3)
    status = {url.rsplit("/", 1)[1]: result.status for url, result in results.items()}
    assert status == {
        "good.png": "ok", "missing.png": "http_404", "slow.png": "timeout",
        "big-declared.png": "too_large", "big-chunked.png": "too_large", "to-good": "ok",
        # loopback allowed, not 10/8: no test connects off the machine
        "to-private": "private_address", "to-file": "unsupported_scheme",
        "loop": "too_many_redirects", "not-image.jpg": "ok"}
    assert results[f"{server}/good.png"].data == GOOD
    redirected = results[f"{server}/to-good"]
    assert redirected.data == GOOD and redirected.final_url == f"{server}/good.png"


def test_private_and_loopback_refused_by_default(server):
    results = _fetch([f"{server}/good.png", "http://[::1]/x.png", "http://169.254.169.254/",
                      "ftp://example.org/x.png", "http://localhost:1/x.png"])
    assert {r.status for r in results.values()} == {"private_address", "unsupported_scheme"}
    assert results["ftp://example.org/x.png"].status == "unsupported_scheme"
    assert results["http://localhost:1/x.png"].status == "private_address"  # via the resolver


def test_redirects_are_checked_again(server):
    # Only the test server's own address is allowed: every redirect elsewhere is refused.
    settings = {"allowed_networks": ["127.0.0.1/32"]}
    results = _fetch([f"{server}/to-good", f"{server}/to-private", f"{server}/to-other-loopback"],
                     **settings)
    status = {url.rsplit("/", 1)[1]: r.status for url, r in results.items()}
    assert status == {"to-good": "ok", "to-private": "private_address",
                      "to-other-loopback": "private_address"}
    assert results[f"{server}/to-private"].final_url == "http://10.1.2.3/x.png"


def test_transient_failures_are_retried(server):
    Handler.flaky_hits = 0
    result = _fetch([f"{server}/flaky.png"], allow_private_addresses=True, retries=2)
    assert result[f"{server}/flaky.png"].status == "ok"
    assert result[f"{server}/flaky.png"].attempts == 2
    Handler.flaky_hits = -10
    result = _fetch([f"{server}/flaky.png"], allow_private_addresses=True, retries=1)
    assert result[f"{server}/flaky.png"].status == "http_503"


def test_policy_and_url_checks():
    policy = AddressPolicy()
    assert not any(policy.allowed(a) for a in ("10.0.0.1", "192.168.1.1", "127.0.0.1", "::1",
                                               "169.254.169.254", "fe80::1", "0.0.0.0",
                                               "100.64.0.1", "::ffff:127.0.0.1", "224.0.0.1"))
    assert policy.allowed("93.184.216.34") and policy.allowed("2606:4700::1111")
    assert AddressPolicy(allowed_networks=["10.0.0.0/8"]).allowed("10.9.9.9")
    assert UrlGate(policy).refusal_without_dns("javascript:alert(1)") == "unsupported_scheme"
    assert UrlGate(policy).refusal_without_dns("http://10.0.0.1/a.png") == "private_address"
    assert UrlGate(policy).refusal_without_dns("http://example.org:99999/a.png") == "invalid_url"
    assert UrlGate(policy).refusal_without_dns("https://example.org/a.png") is None


def test_stage_fills_fetched_images_with_statuses(tmp_path, server):
    listing = tmp_path / "in" / "images.urls"
    listing.parent.mkdir()
    listing.write_text("\n".join([f"{server}/good.png\ta red square", f"{server}/missing.png",
                                  f"{server}/not-image.jpg", f"{server}/big-chunked.png",
                                  "# a comment", "not a url"]) + "\n")
    workspace, stats = run_ingest(
        tmp_path / "ws", [{"path": str(listing.parent)}], max_image_bytes=100_000,
        fetch={"enabled": True, "allow_private_addresses": True, "timeout_s": 2, "retries": 0})
    assert stats["records_in"] == 5 and stats["rows_dropped_not_a_url"] == 1
    rows = {row["url"].rsplit("/", 1)[1]: row
            for row in workspace.read_dataset("images").to_pylist()}
    assert {name: row["status"] for name, row in rows.items()} == {
        "good.png": "ok", "missing.png": "http_404", "not-image.jpg": "not_an_image",
        "big-chunked.png": "too_large"}
    assert rows["good.png"]["bytes"] == GOOD and rows["missing.png"]["bytes"] is None
    assert stats["images_ok"] == 1 and stats["images_failed_http_404"] == 1
    texts = workspace.read_dataset("texts")["text"].to_pylist()
    assert texts == ["a red square"]
