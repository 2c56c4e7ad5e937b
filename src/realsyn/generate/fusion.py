"""Fusion of text1 + caption + tags into one synthetic sentence: prompts, cleaning, checks.

The prompt lives in one documented template file (prompts/fusion.txt). The model's answer is
cleaned (labels, quotes, markdown and trailing chatter removed; the first sentence kept) and
then validated: one sentence, non-empty, enough words, within the encoder's context length,
no echo of the prompt, no code. An answer that fails is reported with its reason, so the
stage can fall back to text1 and flag the row.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PROMPTS = Path(__file__).with_name("prompts")
ROLES = ("system", "user", "assistant")
# CLIP's text context; used when the encoder does not say.
DEFAULT_CONTEXT_LENGTH = 77


@dataclass(frozen=True)
class PromptTemplate:
    """Chat messages with {placeholders}, parsed from a template file (format documented at
    the top of prompts/fusion.txt)."""

    messages: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> PromptTemplate:
        messages: list[tuple[str, list[str]]] = []
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            header = re.fullmatch(r"\[(\w+)\]\s*", line)
            if header and header.group(1) in ROLES:
                messages.append((header.group(1), []))
            elif messages:
                messages[-1][1].append(line)
            elif line.strip():
                raise ValueError(f"prompt text before the first [role] line: {line!r}")
        if not messages or messages[-1][0] != "user":
            raise ValueError("a prompt template must end with a [user] message")
        return cls(tuple((role, "\n".join(lines).strip()) for role, lines in messages))

    @classmethod
    def load(cls, path: str | Path) -> PromptTemplate:
        return cls.parse(Path(path).read_text(encoding="utf-8"))

    def render(self, **fields: str) -> list[dict[str, str]]:
        return [{"role": role, "content": content.format(**fields)}
                for role, content in self.messages]

    def instruction_text(self) -> str:
        """Everything the template says by itself (examples included), for echo checks."""
        return "\n".join(re.sub(r"\{\w+\}", " ", content) for _, content in self.messages)


@cache
def fusion_template() -> PromptTemplate:
    return PromptTemplate.load(PROMPTS / "fusion.txt")


@cache
def caption_template() -> PromptTemplate:
    return PromptTemplate.load(PROMPTS / "caption.txt")


def format_tags(tags: Sequence[tuple[str, float]] | Sequence[str]) -> str:
    names = [tag if isinstance(tag, str) else tag[0] for tag in tags]
    return ", ".join(names) if names else "none"


def parse_tags(value: str | None) -> list[tuple[str, float]]:
    """The `tags` column of `generated` (JSON [[tag, score], ...]) back as pairs; [] if bad."""
    try:
        return [(str(tag), float(score)) for tag, score in json.loads(value or "[]")]
    except (TypeError, ValueError):
        return []


def fusion_messages(text1: str, caption: str, tags: Sequence[Any],
                    template: PromptTemplate | None = None) -> list[dict[str, str]]:
    template = template or fusion_template()
    return template.render(text1=normalize_space(text1), caption=normalize_space(caption),
                           tags=format_tags(tags))


# ---------------------------------------------------------------------- cleaning
_LABEL = re.compile(r"^\s*(?:sentence|output|answer|rewritten(?: sentence)?|result|caption|"
                    r"description|synthetic(?: sentence)?)\s*:\s*", re.IGNORECASE)
_WRAPPERS = "\"'`“”‘’*_ "


def normalize_space(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def clean_output(raw: str) -> str:
    """The model's answer reduced to what should be one sentence."""
    lines = [line for line in (raw or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = lines[0]  # chatter after the first line ("Note: ...") is never part of the answer
    text = _LABEL.sub("", text)
    text = text.strip(_WRAPPERS)
    text = re.sub(r"\*\*|__", "", text)
    text = normalize_space(text)
    sentences = split_sentences(text)
    first = sentences[0] if sentences else text
    # A quote may close after the sentence's full stop: drop an unbalanced one.
    if first.count('"') % 2 or first.count("“") != first.count("”"):
        first = first.strip(_WRAPPERS)
    return first


def split_sentences(text: str) -> list[str]:
    import nupunkt  # the project's sentence splitter (spec section 1), cheap to import

    return [s.strip() for s in nupunkt.sent_tokenize(text) if s.strip()]


# ---------------------------------------------------------------------- validation
def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate of BPE tokens (CLIP-style) when the encoder gives no
    tokenizer: one per word or punctuation mark, plus one per 6 letters beyond the first 6 of
    a long word (rare long words split into several pieces)."""
    pieces = re.findall(r"\w+|[^\w\s]", text)
    return sum(1 + max(0, len(piece) - 6) // 6 for piece in pieces)


def _shingles(text: str, size: int) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)}


def _repeats(text: str, size: int = 4, limit: int = 3) -> bool:
    """A small model stuck in a loop repeats the same words: any 4-word run seen 3 times."""
    words = re.findall(r"\w+", text.lower())
    runs = Counter(tuple(words[i:i + size]) for i in range(len(words) - size + 1))
    return bool(runs) and max(runs.values()) >= limit


_CODE = re.compile(r"```|\bdef |\bimport |\bprint\(|[{}<>]|;\s*$|\\n")
_REFUSAL = re.compile(r"^(?:i'm sorry|i am sorry|sorry,|as an ai|i cannot|i can't)",
                      re.IGNORECASE)


@dataclass
class SentenceValidator:
    """Checks one cleaned answer; `check` returns None when valid, else the reason."""

    max_tokens: int = DEFAULT_CONTEXT_LENGTH
    min_words: int = 3
    count_tokens: Callable[[str], int] = estimate_tokens
    template: PromptTemplate | None = None
    echo_ngram: int = 6

    def __post_init__(self) -> None:
        template = self.template or fusion_template()
        self._instruction_shingles = _shingles(template.instruction_text(), self.echo_ngram)

    def check(self, sentence: str, caption: str = "", tags: Sequence[Any] = ()) -> str | None:
        if not sentence:
            return "empty"
        if _REFUSAL.search(sentence):
            return "refusal"
        if _CODE.search(sentence):
            return "code"
        if len(re.findall(r"\w+", sentence)) < self.min_words:
            return "too_short"
        if len(split_sentences(sentence)) != 1 or not re.search(r"[.!?]['\")]?$", sentence):
            return "not_one_sentence"
        if self.count_tokens(sentence) > self.max_tokens:
            return "too_long"
        if _repeats(sentence):
            return "repetition"
        if self._is_echo(sentence, caption, tags):
            return "prompt_echo"
        return None

    def _is_echo(self, sentence: str, caption: str, tags: Sequence[Any]) -> bool:
        lowered = sentence.lower()
        # Field labels or the tag list verbatim mean the model repeated its input format.
        if re.search(r"\b(?:text|caption|tags|labels)\s*:", lowered):
            return True
        tag_line = format_tags(tags).lower()
        if tags and len(tags) > 1 and tag_line in lowered:
            return True
        # Any long run of words from the instructions or the worked example.
        return bool(_shingles(sentence, self.echo_ngram) & self._instruction_shingles)
