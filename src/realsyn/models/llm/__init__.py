"""LLM access for captioning and fusion: backends behind one small interface.

- `OpenAIBackend`: any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama).
- `LlamaCppBackend`: llama.cpp in-process (xllamacpp), the offline default with the shipped
  Qwen2.5-Coder-0.5B GGUF.
- `VLLMBackend`: vLLM's offline engine, when vllm is installed.

`LLMClient` adds the persistent request cache, concurrency, retries and backoff;
`make_client(LLMConfig, cache_path)` builds the configured one.
"""

from realsyn.models.llm.base import Backend, ChatRequest, Completion, LLMError
from realsyn.models.llm.cache import RequestCache, request_key
from realsyn.models.llm.client import LLMClient
from realsyn.models.llm.factory import make_backend, make_client

__all__ = [
    "Backend",
    "ChatRequest",
    "Completion",
    "LLMClient",
    "LLMError",
    "RequestCache",
    "make_backend",
    "make_client",
    "request_key",
]
