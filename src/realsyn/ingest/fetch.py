"""Asynchronous image fetcher (in the spirit of img2dataset): bounded concurrency, a timeout
per attempt, retries with exponential backoff for transient failures, a byte limit enforced
while streaming, and one status per URL ("ok" or the reason of the failure).

Safety: only http(s); hosts must resolve to public addresses unless the config allows private
ones (or lists their networks). The check runs on the addresses actually connected to (a
resolver that filters them, so DNS rebinding cannot slip through), on IP literals before any
connection, and again on every redirect, which is followed by hand for that reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 1 << 16


@dataclass
class FetchResult:
    url: str
    data: bytes | None
    status: str  # "ok" or the reason
    final_url: str | None = None
    content_type: str | None = None
    attempts: int = 0


class AddressPolicy:
    """Which IP addresses may be connected to."""

    def __init__(self, allow_private: bool = False, allowed_networks: Iterable[str] = ()):
        self.allow_private = allow_private
        self.networks = [ipaddress.ip_network(net, strict=False) for net in allowed_networks]

    def allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.networks):
            return True
        # is_global is false for private, loopback, link-local, reserved, shared, unspecified.
        return self.allow_private or (ip.is_global and not ip.is_multicast)


class RefusedAddressError(OSError):
    """Every address of a host is refused by the policy."""


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver and keeps only addresses the policy allows."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self.inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        addresses = await self.inner.resolve(host, port, family)
        allowed = [entry for entry in addresses if self.policy.allowed(entry["host"])]
        if not allowed:
            raise RefusedAddressError(f"{host} resolves only to refused addresses")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def url_refusal(url: str, policy: AddressPolicy) -> str | None:
    """Why a URL may not be requested before any connection (None: it may)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "invalid_url"
    if parts.scheme.lower() not in ("http", "https"):
        return "unsupported_scheme"
    if not host:
        return "invalid_url"
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a host name: the resolver checks its addresses
    return None if policy.allowed(host) else "private_address"


def _refused(error: BaseException) -> bool:
    while error is not None:
        if isinstance(error, RefusedAddressError) or isinstance(
                getattr(error, "os_error", None), RefusedAddressError):
            return True
        error = error.__cause__
    return False


def transient(status: str) -> bool:
    return status in ("timeout", "connection_error", "http_429") or (
        status.startswith("http_5") and len(status) == 8)


class Fetcher:
    """Fetch many URLs; `config` is the FetchConfig, `max_bytes` the image byte limit."""

    def __init__(self, config: Any, max_bytes: int):
        self.config = config
        self.max_bytes = max_bytes
        self.policy = AddressPolicy(config.allow_private_addresses, config.allowed_networks)

    def fetch_all(self, urls: Iterable[str]) -> dict[str, FetchResult]:
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        return asyncio.run(self._fetch_all(unique))

    async def _fetch_all(self, urls: list[str]) -> dict[str, FetchResult]:
        semaphore = asyncio.Semaphore(self.config.concurrency)
        connector = aiohttp.TCPConnector(limit=self.config.concurrency,
                                         resolver=GuardedResolver(self.policy))
        headers = {"User-Agent": self.config.user_agent}
        async with aiohttp.ClientSession(connector=connector, headers=headers,
                                         trust_env=False) as session:

            async def guarded(url: str) -> FetchResult:
                async with semaphore:
                    return await self.fetch(session, url)

            results = await asyncio.gather(*(guarded(url) for url in urls))
        return {result.url: result for result in results}

    async def fetch(self, session: aiohttp.ClientSession, url: str) -> FetchResult:
        """One URL with retries of transient failures (exponential backoff)."""
        attempt = 0
        while True:
            attempt += 1
            result = await self._attempt(session, url)
            result.attempts = attempt
            if not transient(result.status) or attempt > self.config.retries:
                return result
            await asyncio.sleep(self.config.backoff_s * 2 ** (attempt - 1))

    async def _attempt(self, session: aiohttp.ClientSession, url: str) -> FetchResult:
        current = url
        try:
            async with asyncio.timeout(self.config.timeout_s):
                for _ in range(self.config.max_redirects + 1):
                    refusal = url_refusal(current, self.policy)
                    if refusal:
                        return FetchResult(url, None, refusal, current)
                    async with session.get(current, allow_redirects=False) as response:
                        if response.status in REDIRECTS:
                            location = response.headers.get("Location")
                            if not location:
                                return FetchResult(url, None, "redirect_without_location",
                                                   current)
                            current = urljoin(str(response.url), location)
                            continue
                        return await self._body(url, current, response)
                return FetchResult(url, None, "too_many_redirects", current)
        except TimeoutError:
            return FetchResult(url, None, "timeout", current)
        except (aiohttp.ClientError, OSError) as error:
            status = "private_address" if _refused(error) else "connection_error"
            if isinstance(error, aiohttp.InvalidURL):
                status = "invalid_url"
            return FetchResult(url, None, status, current)

    async def _body(self, url: str, current: str, response: aiohttp.ClientResponse
                    ) -> FetchResult:
        content_type = response.headers.get("Content-Type")
        if response.status != 200:
            return FetchResult(url, None, f"http_{response.status}", current, content_type)
        if response.content_length is not None and response.content_length > self.max_bytes:
            return FetchResult(url, None, "too_large", current, content_type)
        data = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK):
            data += chunk
            if len(data) > self.max_bytes:
                return FetchResult(url, None, "too_large", current, content_type)
        return FetchResult(url, bytes(data), "ok", current, content_type)
