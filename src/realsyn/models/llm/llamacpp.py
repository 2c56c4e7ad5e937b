"""llama.cpp through xllamacpp: in-process chat completions, and a loopback HTTP server.

An `xllamacpp.Server` loads the GGUF once and answers `handle_chat_completions` in-process;
the same object also listens on 127.0.0.1 as an OpenAI-compatible server, which is how the
OpenAI backend is tested end to end without any other software.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from realsyn.models.assets import sha256_file
from realsyn.models.llm.base import ChatRequest, LLMError
from realsyn.models.llm.gguf import QWEN_GGUF_SHA256, qwen_gguf_path
from realsyn.models.llm.openai import parse_chat_response


def default_threads() -> int:
    # Half the cores, at least one: llama.cpp threads that spin on a shared, busy machine
    # slow everything down far more than they gain.
    return max(1, (os.cpu_count() or 2) // 2)


def model_identity(path: Path) -> str:
    """What keys the answer cache: the model file's content, hashed (a fine-tune of the same
    architecture and quantisation has the same name and size; hashing costs about a second
    per gigabyte, once per server start)."""
    digest = sha256_file(path)
    if digest == QWEN_GGUF_SHA256:  # the pinned model keeps one name wherever it lies
        return f"llamacpp:qwen2.5-coder-0.5b-q4_k_m:{QWEN_GGUF_SHA256[:16]}"
    return f"llamacpp:{path.name}:{digest[:16]}"


def reproducible_answers(params: Any) -> None:
    """Settings under which an answer at temperature 0 depends on its request only, never on
    what the server computed before or beside it (tests/generate/test_reproducible.py).

    A reused prompt prefix means the rest of the prompt is evaluated as a smaller batch, whose
    size depends on the request before; these kernels gave a row other floats in batches of
    other sizes, and greedy decoding then picked another word now and then:
    - repacked weight layouts ("extra buffer types") multiply rows in groups;
    - CPU flash attention (chosen automatically) takes another path for large batches;
    - the host-memory prompt cache restores the state of an earlier, similar request.
    Measured on 36 fusion prompts: with repacking, 1 answer changed with the order of the
    requests; with flash attention, 2 changed between a request answered first on a server and
    after others; with both off, none did, at the same speed.
    """
    import xllamacpp

    params.no_extra_bufts = True
    params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.cache_ram_mib = 0


class LlamaCppServer:
    """A llama.cpp server in this process: `chat_completions(payload)` in-process, and
    `base_url` (``http://127.0.0.1:<port>/v1``) for HTTP clients. Use as a context manager
    or call `close()`; the model is freed when the server goes."""

    def __init__(self, model_path: str | Path | None = None, *, threads: int | None = None,
                 parallel: int = 2, context_per_slot: int = 2048, port: int = 0):
        import xllamacpp  # heavy native library: imported only when a server is wanted

        self.model_path = Path(model_path) if model_path else qwen_gguf_path()
        if not self.model_path.exists():
            raise FileNotFoundError(f"GGUF model not found: {self.model_path}")
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.n_parallel = parallel
        params.n_ctx = context_per_slot * parallel
        params.hostnames = ["127.0.0.1"]
        params.port = port  # 0: any free port
        params.verbosity = 0
        params.warmup = False
        reproducible_answers(params)
        n_threads = threads or default_threads()
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads = n_threads
            cpu.poll = 0  # sleep rather than spin while waiting for work
        self.parallel = parallel
        self.identity = model_identity(self.model_path)
        self._server: Any = xllamacpp.Server(params)

    @property
    def base_url(self) -> str:
        return f"{self._server.listening_address}/v1"

    def chat_completions(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._server is None:
            raise RuntimeError("the llama.cpp server is closed")
        return self._server.handle_chat_completions(payload)

    def close(self) -> None:
        self._server = None

    def __enter__(self) -> LlamaCppServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PrefixSlots:
    """Which llama.cpp slot serves a request: the slot that last served its fixed prefix (every
    message but the last: the instructions and worked examples of the caption or fusion prompt).
    Each slot's cache then keeps one prefix, computed once per server, instead of evaluating it
    again whenever caption and fusion requests take turns on one slot. A new prefix takes the
    least recently used slot."""

    def __init__(self, slots: int):
        self._slot_of: OrderedDict[tuple, int] = OrderedDict()
        self._free = list(range(slots))

    def slot_for(self, prefix: tuple) -> int:
        if prefix in self._slot_of:
            self._slot_of.move_to_end(prefix)
        elif self._free:
            self._slot_of[prefix] = self._free.pop(0)
        else:
            _, slot = self._slot_of.popitem(last=False)
            self._slot_of[prefix] = slot
        return self._slot_of[prefix]


class LlamaCppBackend:
    """In-process llama.cpp: requests run in threads, at most `concurrency` at once (default:
    one per server slot), and share the server's continuous batching.

    With one request at a time on a server of several slots, each request goes to the slot of
    its prompt prefix (`PrefixSlots`). Requests never run side by side then, so an answer still
    depends on its request only (`reproducible_answers`)."""

    def __init__(self, server: LlamaCppServer, concurrency: int | None = None):
        self.server = server
        self.identity = server.identity
        self.max_concurrency = concurrency or server.parallel
        self._prefix_slots = (PrefixSlots(server.parallel)
                              if self.max_concurrency == 1 < server.parallel else None)

    async def chat(self, request: ChatRequest) -> str:
        try:
            payload = request.payload()
            if self._prefix_slots is not None:
                payload["id_slot"] = self._prefix_slots.slot_for(request.messages[:-1])
            body = await asyncio.to_thread(self.server.chat_completions, payload)
        except ValueError as error:  # xllamacpp rejects bad requests with ValueError
            raise LLMError("bad_request", str(error), retryable=False) from error
        if isinstance(body, dict) and "error" in body:
            raise LLMError("llamacpp_error", str(body["error"])[:200])
        return parse_chat_response(body)

    async def aclose(self) -> None:
        """The server outlives the backend; its owner closes it."""
