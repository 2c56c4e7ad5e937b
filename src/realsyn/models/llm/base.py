"""What every LLM backend offers: one chat completion for an OpenAI-style payload."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol


class LLMError(Exception):
    """A failed request. `reason` is a short tag (``timeout``, ``http_500``, ``malformed_json``,
    ``connection``, ...) that ends up in ``syn_status``; `retryable` says whether asking again
    can help (a 400 will fail again, a 503 or a dropped connection may not)."""

    def __init__(self, reason: str, detail: str = "", retryable: bool = True):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.retryable = retryable


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request, independent of the backend."""

    messages: tuple[tuple[str, str], ...]  # ((role, content as JSON), ...)
    max_tokens: int
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    @classmethod
    def of(cls, messages: list[dict[str, Any]], **options: Any) -> ChatRequest:
        return cls(tuple((m["role"], _freeze(m["content"])) for m in messages), **options)

    def payload(self, model: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": [{"role": role, "content": _thaw(content)}
                         for role, content in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }
        if self.stop:
            body["stop"] = list(self.stop)
        if model is not None:
            body["model"] = model
        return body


@dataclass
class Completion:
    """The outcome of one request: `text` on success, else `error` (an LLMError reason)."""

    text: str | None = None
    error: str | None = None
    cached: bool = False
    attempts: int = 0
    detail: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(Protocol):
    """A chat-completion engine. `identity` names the model for the request cache: two
    backends with the same identity must give interchangeable answers."""

    identity: str
    max_concurrency: int

    async def chat(self, request: ChatRequest) -> str:
        """The assistant message text; raises LLMError on failure."""
        ...

    async def aclose(self) -> None: ...


def _freeze(content: Any) -> str:
    # Content (text, or a list of multimodal parts) is kept as canonical JSON so the request
    # is hashable and its cache key is unambiguous.
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _thaw(content: str) -> Any:
    return json.loads(content)
