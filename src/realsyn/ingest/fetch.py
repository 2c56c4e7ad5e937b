"""Asynchronous image fetcher (in the spirit of img2dataset): bounded concurrency, a timeout
per attempt, retries with exponential backoff for transient failures, a byte limit enforced
while streaming, and one status per URL ("ok" or the reason of the failure).

Safety: every URL and every redirect target (followed by hand for that reason) goes through
the URL gate (urlgate.py): only http(s), hosts parsed as the client parses them, and only
addresses the policy allows, pinned so that the connection goes to the checked address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from realsyn.ingest.urlgate import (
    INVALID_URL,
    AddressPolicy,
    PinnedResolver,
    RefusedAddressError,
    Resolve,
    UrlGate,
    Vetted,
    system_resolve,
)

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


def _refused(error: BaseException | None) -> bool:
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

    def __init__(self, config: Any, max_bytes: int, resolve: Resolve = system_resolve):
        self.config = config
        self.max_bytes = max_bytes
        self.policy = AddressPolicy(config.allow_private_addresses, config.allowed_networks)
        self.resolve = resolve

    def fetch_all(self, urls: Iterable[str]) -> dict[str, FetchResult]:
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        return asyncio.run(self._fetch_all(unique))

    async def _fetch_all(self, urls: list[str]) -> dict[str, FetchResult]:
        semaphore = asyncio.Semaphore(self.config.concurrency)
        self.gate = UrlGate(self.policy, self.resolve)
        connector = aiohttp.TCPConnector(limit=self.config.concurrency,
                                         resolver=PinnedResolver(self.gate))
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
                    vetted = await self.gate.vet(current)
                    if not isinstance(vetted, Vetted):
                        return FetchResult(url, None, vetted, current)
                    # The parsed URL itself is requested (encoded=True: never re-parsed).
                    async with session.get(vetted.url, allow_redirects=False) as response:
                        if response.status in REDIRECTS:
                            location = response.headers.get("Location")
                            if not location:
                                return FetchResult(url, None, "redirect_without_location",
                                                   current)
                            try:
                                current = str(vetted.url.join(yarl.URL(location)))
                            except (ValueError, TypeError, UnicodeError):
                                return FetchResult(url, None, INVALID_URL, location)
                            continue
                        return await self._body(url, current, response)
                return FetchResult(url, None, "too_many_redirects", current)
        except TimeoutError:
            return FetchResult(url, None, "timeout", current)
        except (aiohttp.ClientError, OSError) as error:
            status = "private_address" if _refused(error) else "connection_error"
            if isinstance(error, aiohttp.InvalidURL):
                status = INVALID_URL
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
