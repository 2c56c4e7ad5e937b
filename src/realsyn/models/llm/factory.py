"""Build the configured backend and client from an `LLMConfig`."""

from __future__ import annotations

from pathlib import Path

from realsyn.config import LLMConfig
from realsyn.models.llm.base import Backend
from realsyn.models.llm.cache import RequestCache
from realsyn.models.llm.client import LLMClient


def make_backend(config: LLMConfig, base_url: str | None = None) -> Backend:
    """`base_url` overrides the config's (a captioner may use its own endpoint)."""
    if config.backend == "openai" or base_url:
        from realsyn.models.llm.openai import OpenAIBackend

        url = base_url or config.base_url
        if not url:
            raise ValueError("llm.backend 'openai' needs llm.base_url")
        return OpenAIBackend(url, model=config.model, api_key=config.api_key,
                             timeout_s=config.timeout_s, max_concurrency=config.concurrency)
    if config.backend == "vllm":
        from realsyn.models.llm.vllm import VLLMBackend

        return VLLMBackend(config.model, seed=config.seed, **config.vllm_options)
    from realsyn.models.llm.llamacpp import LlamaCppBackend, LlamaCppServer

    # One request at a time (parallel 1) still gets a slot per prompt prefix (prefix_slots).
    slots = config.parallel if config.parallel > 1 else config.prefix_slots
    server = LlamaCppServer(config.model_path, threads=config.threads, parallel=slots,
                            context_per_slot=config.context_per_slot)
    return LlamaCppBackend(server, concurrency=config.parallel)


def make_client(config: LLMConfig, cache_path: str | Path | None = None,
                backend: Backend | None = None) -> LLMClient:
    cache = RequestCache(cache_path) if cache_path else None
    return LLMClient(backend or make_backend(config), cache, retries=config.retries,
                     backoff_s=config.backoff_s, max_backoff_s=config.max_backoff_s,
                     # Server-side engines bound themselves (llama.cpp slots, vLLM batches).
                     concurrency=config.concurrency if config.backend == "openai" else None)
