"""The request runner every caller uses: cache first, then the backend with bounded
concurrency, per-request timeouts (in the backend) and retries with bounded exponential
backoff. A request that still fails comes back as a failed `Completion`, never an exception:
callers fall back and flag, and the run goes on."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from realsyn.models.llm.base import Backend, ChatRequest, Completion, LLMError
from realsyn.models.llm.cache import RequestCache, request_key


class LLMClient:
    """Synchronous facade over an async backend, with one event loop per client so that
    HTTP sessions survive between calls."""

    def __init__(self, backend: Backend, cache: RequestCache | None = None, *,
                 retries: int = 2, backoff_s: float = 1.0, max_backoff_s: float = 30.0,
                 concurrency: int | None = None):
        self.backend = backend
        self.cache = cache
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.concurrency = concurrency or backend.max_concurrency
        self.counters: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()

    # ------------------------------------------------------------------ public
    def complete_many(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """One Completion per request, in order. Identical requests are asked once."""
        return self._loop.run_until_complete(self._complete_all(list(requests)))

    def complete(self, request: ChatRequest) -> Completion:
        return self.complete_many([request])[0]

    def take_counters(self) -> dict[str, int]:
        """Counters since the last call (requests, retries, failures, cache hits/misses)."""
        counts = dict(self.counters)
        self.counters.clear()
        return counts

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.run_until_complete(self.backend.aclose())
        self._loop.close()
        if self.cache is not None:
            self.cache.close()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based): doubling, capped."""
        return min(self.backoff_s * (2 ** attempt), self.max_backoff_s)

    # ------------------------------------------------------------------ internals
    async def _complete_all(self, requests: list[ChatRequest]) -> list[Completion]:
        identity = self.backend.identity
        keys = [request_key(identity, request) for request in requests]
        results: dict[str, Completion] = {}
        pending: dict[str, ChatRequest] = {}
        for key, request in zip(keys, requests, strict=True):
            if key in results or key in pending:
                continue
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                self.counters["cache_hits"] += 1
                results[key] = Completion(text=cached, cached=True)
            else:
                self.counters["cache_misses"] += 1
                pending[key] = request
        if pending:
            if hasattr(self.backend, "chat_batch"):
                results.update(await self._run_batched(pending))
            else:
                semaphore = asyncio.Semaphore(self.concurrency)
                answers = await asyncio.gather(
                    *(self._run_one(key, request, semaphore) for key, request in pending.items()))
                results.update(zip(pending, answers, strict=True))
        return [results[key] for key in keys]

    async def _run_one(self, key: str, request: ChatRequest,
                       semaphore: asyncio.Semaphore) -> Completion:
        error: LLMError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.counters["llm_retries"] += 1
                await asyncio.sleep(self.backoff(attempt - 1))
            async with semaphore:
                self.counters["llm_requests"] += 1
                try:
                    text = await self.backend.chat(request)
                except LLMError as failure:
                    error = failure
                else:
                    self._store(key, request, text)
                    return Completion(text=text, attempts=attempt + 1)
            if not error.retryable:
                break
        return self._failed(error, attempt + 1)

    async def _run_batched(self, pending: dict[str, ChatRequest]) -> dict[str, Completion]:
        # For engines that schedule a whole batch themselves (vLLM): one call per round,
        # failed requests go to the next round after the backoff.
        done: dict[str, Completion] = {}
        todo = dict(pending)
        for attempt in range(self.retries + 1):
            if attempt:
                self.counters["llm_retries"] += len(todo)
                await asyncio.sleep(self.backoff(attempt - 1))
            self.counters["llm_requests"] += len(todo)
            answers = await asyncio.to_thread(self.backend.chat_batch, list(todo.values()))
            retry: dict[str, ChatRequest] = {}
            for (key, request), answer in zip(todo.items(), answers, strict=True):
                if isinstance(answer, LLMError):
                    if answer.retryable and attempt < self.retries:
                        retry[key] = request
                    else:
                        done[key] = self._failed(answer, attempt + 1)
                else:
                    self._store(key, request, answer)
                    done[key] = Completion(text=answer, attempts=attempt + 1)
            todo = retry
            if not todo:
                break
        return done

    def _store(self, key: str, request: ChatRequest, text: str) -> None:
        if self.cache is not None:
            self.cache.put(key, self.backend.identity, request, text)

    def _failed(self, error: LLMError, attempts: int) -> Completion:
        self.counters[f"llm_failed_{error.reason}"] += 1
        return Completion(error=error.reason, detail=error.detail, attempts=attempts)
