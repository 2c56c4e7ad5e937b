"""vLLM's offline engine: whole batches in one call, for GPU machines that have vLLM.

vLLM is imported only when this backend is built, so the rest of the project never needs it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from realsyn.models.llm.base import ChatRequest, LLMError


class VLLMBackend:
    """`chat_batch` hands every pending request to `vllm.LLM.chat` at once: vLLM schedules
    them itself (continuous batching), so no client-side concurrency is needed."""

    max_concurrency = 1  # one batch call at a time; the batch itself is parallel

    def __init__(self, model: str, *, seed: int = 0, **engine_options: Any):
        try:
            from vllm import LLM
        except ImportError:
            raise ImportError("the vllm backend needs the `vllm` package") from None
        # Every fusion prompt opens with the same instructions and worked examples: automatic
        # prefix caching computes their KV blocks once and shares them across the batch.
        engine_options.setdefault("enable_prefix_caching", True)
        self._llm = LLM(model=model, seed=seed, **engine_options)
        self.identity = f"vllm:{model}"

    def chat_batch(self, requests: list[ChatRequest]) -> list[str | LLMError]:
        from vllm import SamplingParams

        conversations = [request.payload()["messages"] for request in requests]
        params = [SamplingParams(max_tokens=r.max_tokens, temperature=r.temperature,
                                 seed=r.seed, stop=list(r.stop) or None) for r in requests]
        try:
            outputs = self._llm.chat(conversations, params, use_tqdm=False)
        except Exception as error:  # one bad request must not lose the batch's bookkeeping
            return [LLMError("vllm_error", f"{type(error).__name__}: {error}")] * len(requests)
        results: list[str | LLMError] = []
        for output in outputs:
            if not output.outputs:
                results.append(LLMError("empty_response", retryable=False))
            else:
                results.append(output.outputs[0].text)
        return results

    async def chat(self, request: ChatRequest) -> str:
        [result] = await asyncio.to_thread(self.chat_batch, [request])
        if isinstance(result, LLMError):
            raise result
        return result

    async def aclose(self) -> None:
        """vLLM frees the engine with the process."""
