"""Backend for any OpenAI-compatible chat server (vLLM, SGLang, llama.cpp server, Ollama)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from realsyn.models.llm.base import ChatRequest, LLMError


class OpenAIBackend:
    """POSTs to ``<base_url>/chat/completions``; `base_url` usually ends in ``/v1``.

    The aiohttp session belongs to the event loop that first uses it (the client keeps one
    loop per process), so it is created lazily.
    """

    def __init__(self, base_url: str, model: str = "default", api_key: str | None = None,
                 timeout_s: float = 60.0, max_concurrency: int = 4):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_concurrency = max_concurrency
        # The server's address is not part of the identity: the same model behind another
        # address gives interchangeable answers.
        self.identity = f"openai:{model}"
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            connector = aiohttp.TCPConnector(limit=self.max_concurrency)
            self._session = aiohttp.ClientSession(headers=headers, connector=connector,
                                                  timeout=self.timeout)
        return self._session

    async def chat(self, request: ChatRequest) -> str:
        session = self._session_now()
        try:
            async with session.post(self.url, json=request.payload(self.model)) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError as error:
            raise LLMError("timeout", f"no answer within {self.timeout.total}s") from error
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise LLMError("connection", type(error).__name__) from error
        if status >= 400:
            # Server-side trouble and rate limits may pass; other client errors will not.
            retryable = status >= 500 or status in (408, 429)
            raise LLMError(f"http_{status}", raw[:200].decode("utf-8", "replace"), retryable)
        return parse_chat_response(raw)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
            # Let the connector's transports finish closing before the loop moves on.
            await asyncio.sleep(0)


def parse_chat_response(raw: bytes | str | dict[str, Any]) -> str:
    """The first choice's message text from an OpenAI chat-completion body."""
    try:
        body = raw if isinstance(raw, dict) else json.loads(raw)
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise LLMError("malformed_json", f"{type(error).__name__}: {error}") from error
    if not isinstance(content, str):
        raise LLMError("malformed_json", f"content is {type(content).__name__}")
    return content
