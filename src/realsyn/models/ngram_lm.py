"""A word n-gram language model with interpolated modified Kneser-Ney smoothing, in numpy.

The same class of model as the KenLM files CCNet scores web text with, trained and queried here
without KenLM's `lmplz` (no registry ships it). N-grams are keyed by a 64-bit hash of their word
ids and kept in sorted arrays, so a lookup is one `np.searchsorted` over a whole batch of
sentences; at about 15 words a sentence that is tens of thousands of sentences per second on one
core.

Smoothing (Chen & Goodman 1998, as in KenLM): the highest order uses raw counts, lower orders
continuation counts (how many distinct words precede the n-gram), except n-grams that start with
<s>, which cannot be preceded and keep raw counts. Three discounts per order (for counts 1, 2 and
3+) come from the counts of counts; the unigram level is interpolated with a uniform
distribution over the vocabulary plus <unk>, which gives unseen words their probability.

Text is normalised before tokenizing (lower case, digits to 0) as CCNet does, so the model
scores wording, not casing or numbers.

Two options serve a small training text that must judge broad English:
- a unigram prior (word frequencies of broad English, e.g. wordfreq's) mixed into the unigram
  level, so everyday words the text never saw keep their real frequency;
- a rarity discount: `perplexities` refunds that share of each known word's unigram surprisal
  (exp(mean(-log p(w|h) + discount * log p_unigram(w)))), so a sentence is judged by how well
  its words fit together more than by how rare they are (the idea of SLOR, Pauls & Klein 2012;
  Lau et al. 2017). Unknown words get no refund: broken text stays costly. 0: plain perplexity.

A word n-gram model cannot see repetition longer than its order: in "they must be they must be
they must be" every trigram is common English, and a doubled word ("fire fire") costs only a
back-off to the word's unigram probability, which the rarity discount then refunds. So
`perplexities` takes a repeat penalty: a token that repeats the word just before it, or that
ends a trigram the sentence already had, gets no credit for its context and no refund, but its
plain unigram surprisal plus `repeat_penalty` nats. 0: no penalty.

Nor does perplexity tell word order from vocabulary: a shuffled sentence keeps every word, and
a plain sentence of rare words costs as much as scrambled common ones. So `perplexities` can
contrast the sentence with itself read backwards (the same tokens, so the same vocabulary and
rarity, in the reverse order): with per-token costs c (forwards) and r (backwards), the value is
exp(c + order_contrast * (c - r)). English read forwards is far more probable than backwards, so
plain prose gets a lower value; shuffled or listed words read about as badly either way and get
no such gain. 0: no contrast (one scoring pass instead of two).

Code reads as English to a word model where its names are words ("if self.name is not None"),
and markup and menus are lists of words. So `perplexities` takes a symbol penalty: each mark
of code or markup in the raw text (one of = _ { } [ ] < > $ @ | ` ~ ^ or a backslash, a word
followed at once by "(", or two dotted words such as os.path) adds `symbol_penalty` nats to the
sentence's cost, spread over its tokens. Plain prose has almost none of them. 0: no penalty.

Misspelt and garbled words are unknown to the model, and an unknown word costs only the share
of the unigram level left for unseen words. `unknown_penalty` adds that many nats to each
unknown token; the vocabulary (with the wordfreq prior, 325k words) holds the words of plain
prose, so it is garbled text that pays. 0: no penalty.

Word order is still the weak point: trained on a small text, the model has not seen most word
pairs of a plain sentence, so the sentence costs about what its words shuffled cost. A second,
small model of sentence skeletons (ngram_skeleton: the most frequent words kept, every other
word replaced by its class) judges word order whatever the vocabulary: `skeleton_weight` times
its cost per token, plus `skeleton_contrast` times that cost less the cost of the skeleton read
backwards (as the order contrast does for words), is added to the sentence's cost. 0 and 0: no
skeleton pass.

Proper names are not garbled words: a name of another language ("Hun Tavan Od") is unknown to
the model or a rare word out of its context, and cost a plain sentence as much as character
noise does. So a token written with a capital first letter inside a sentence (not its first
token, nor after . ! or ?), that is not one of the skeleton's grammar words, costs at most
`name_cost` nats (no unknown penalty on top; a repeated name still pays the repeat penalty).
Character noise writes lower-case letters, so the garbled words it makes are rarely
capitalised. 0: names cost what other words cost.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from pathlib import Path

import numpy as np

from realsyn.models import ngram_skeleton

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
_UNK_ID, _BOS_ID, _EOS_ID = 0, 1, 2
FORMAT_VERSION = 1
REPEAT_ORDER = 3  # a token that ends an n-gram of this order seen earlier in its sentence repeats
SKELETON_PREFIX = "skeleton_"  # the skeleton model's arrays in the model file

_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
# marks of code or markup (module doc): symbols prose does not use, a call "name(", a dotted name
_SYMBOL = re.compile(r"[=_{}\[\]<>$@\\|`~^]|\w\(|[a-z]{2}\.[a-z]{2}")
_DIGIT = re.compile(r"\d")
_SENTENCE_END = frozenset(".!?")  # a capital after one of these starts a sentence, not a name

# One random odd 64-bit multiplier per position in the n-gram (fixed: the keys are stored).
_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                         0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53],
                        dtype=np.uint64)


def tokenize(text: str) -> list[str]:
    """Words and single punctuation marks of the normalised text."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    return _TOKEN.findall(_DIGIT.sub("0", text))


def _keys(windows: np.ndarray) -> np.ndarray:
    """64-bit keys of the n-grams in the rows of `windows` ([count, n] word ids)."""
    n = windows.shape[1]
    if n == 0:
        return np.zeros(len(windows), dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = (windows.astype(np.uint64) + np.uint64(1)) * _MULTIPLIERS[:n]
        key = np.bitwise_xor.reduce(mixed, axis=1) if n > 1 else mixed[:, 0]
        # splitmix64 finaliser: the xor of products alone is linear in each id.
        key ^= key >> np.uint64(30)
        key *= np.uint64(0xBF58476D1CE4E5B9)
        key ^= key >> np.uint64(27)
        key *= np.uint64(0x94D049BB133111EB)
        key ^= key >> np.uint64(31)
    return key


def _lookup(keys: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into the sorted `table` of each key, and whether it is there."""
    if len(table) == 0:
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    at = np.searchsorted(table, keys)
    at = np.minimum(at, len(table) - 1)
    return at, table[at] == keys


def _discounts(counts: np.ndarray) -> np.ndarray:
    """Modified Kneser-Ney discounts D1, D2, D3+ from the counts of counts (0 where undefined)."""
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == k)) for k in (1, 2, 3, 4))
    if min(n1, n2, n3) == 0:  # too little data for three discounts: one absolute discount
        d = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        return np.array([d, d, d])
    y = n1 / (n1 + 2 * n2)
    found = np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
    return np.clip(found, 0.0, [1.0, 2.0, 3.0])


class NgramLM:
    """Train with `NgramLM.train(sentences, order)`, save/load as one .npz, score with
    `perplexities(texts)`."""

    def __init__(self, vocab: list[str], unigram: np.ndarray, tables: list[dict[str, np.ndarray]],
                 metadata: dict[str, str] | None = None, rarity_discount: float | None = None,
                 repeat_penalty: float | None = None, order_contrast: float | None = None,
                 symbol_penalty: float | None = None, unknown_penalty: float | None = None,
                 skeleton: NgramLM | None = None, skeleton_weight: float | None = None,
                 skeleton_contrast: float | None = None, name_cost: float | None = None):
        self.vocab = vocab
        self.ids = {word: i for i, word in enumerate(vocab)}
        self.order = len(tables) + 1
        self.unigram_log = np.log(unigram)  # indexed by word id
        self.tables = tables  # orders 2..N: ngram keys/weights, history keys/backoff
        self.metadata = dict(metadata or {})
        self.rarity_discount = self._setting("rarity_discount", rarity_discount, 1.0, "in [0, 1]")
        self.repeat_penalty = self._setting("repeat_penalty", repeat_penalty, float("inf"),
                                            "a finite number >= 0")
        self.order_contrast = self._setting("order_contrast", order_contrast, float("inf"),
                                            "a finite number >= 0")
        self.symbol_penalty = self._setting("symbol_penalty", symbol_penalty, float("inf"),
                                            "a finite number >= 0")
        self.unknown_penalty = self._setting("unknown_penalty", unknown_penalty, float("inf"),
                                             "a finite number >= 0")
        self.skeleton = skeleton
        self.skeleton_weight = self._setting("skeleton_weight", skeleton_weight, float("inf"),
                                             "a finite number >= 0")
        self.skeleton_contrast = self._setting("skeleton_contrast", skeleton_contrast,
                                               float("inf"), "a finite number >= 0")
        self.name_cost = self._setting("name_cost", name_cost, float("inf"),
                                       "a finite number >= 0")
        if skeleton is None and (self.skeleton_weight or self.skeleton_contrast):
            raise ValueError("skeleton_weight and skeleton_contrast need a skeleton model")
        # the words the skeleton keeps: its grammar, which no proper name is
        self._grammar_words = frozenset(
            skeleton.metadata.get("kept_words", "").split() if skeleton is not None else ())
        self._skeleton_of = None if skeleton is None else self._skeleton_classes(skeleton)
        # words (a letter or digit in them): only these count as doubled ("..." does not)
        self._is_word = np.array([any(c.isalnum() for c in w) for w in vocab], dtype=bool)
        self._is_word[_UNK_ID] = False  # two different unknown words share the id

    def _setting(self, name: str, value: float | None, top: float, rule: str) -> float:
        """A scoring setting: the given value, else the one the model file recorded (else 0),
        checked to lie in [0, top] ([0, inf) for an infinite top) and recorded in metadata."""
        if value is None:
            value = float(self.metadata.get(name, 0.0))
        if not (0.0 <= value <= top and value != float("inf")):
            raise ValueError(f"{name} must be {rule}")
        self.metadata[name] = f"{value:g}"
        return value

    def _skeleton_classes(self, skeleton: NgramLM) -> np.ndarray:
        """The skeleton model's id of each word id's class; an unknown word is a word."""
        mapping = ngram_skeleton.class_ids(self.vocab, self._grammar_words, skeleton.ids,
                                           _UNK_ID)
        mapping[_UNK_ID] = skeleton.ids.get(ngram_skeleton.WORD, _UNK_ID)
        return mapping

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, sentences: Iterable[str], order: int = 3,
              metadata: dict[str, str] | None = None,
              unigram_prior: Mapping[str, float] | None = None,
              prior_weight: float = 0.0, rarity_discount: float = 0.0,
              repeat_penalty: float = 0.0, order_contrast: float = 0.0,
              symbol_penalty: float = 0.0, unknown_penalty: float = 0.0,
              skeleton_words: int = 0, skeleton_order: int = 4, skeleton_weight: float = 0.0,
              skeleton_contrast: float = 0.0, name_cost: float = 0.0,
              tokenizer=tokenize) -> NgramLM:
        """`unigram_prior` (word -> frequency, e.g. wordfreq's) is mixed into the unigram level
        with weight `prior_weight`: a small training text then still knows the everyday words
        it never saw, at their frequency in broad English, instead of the uniform share an
        unseen word gets. Its words join the vocabulary after the training words.
        `skeleton_words` > 0 also trains a skeleton model of order `skeleton_order` on the same
        text, keeping that many of the most frequent words of the prior (else of the text).
        `tokenizer` turns a sentence into tokens (the skeleton model is trained on tokens)."""
        # Every training word is in the vocabulary: training rare words as <unk> made unseen
        # words cheap and broken encodings (runs of unknown tokens) look clean (AUC 0.95 ->
        # 0.88 on the labelled set).
        if not 2 <= order <= len(_MULTIPLIERS):
            raise ValueError(f"order must be between 2 and {len(_MULTIPLIERS)}")
        if skeleton_words < 0 or (skeleton_words and not 2 <= skeleton_order <= len(_MULTIPLIERS)):
            raise ValueError(f"skeleton_words must be >= 0 and skeleton_order between 2 and "
                             f"{len(_MULTIPLIERS)}")
        tokenized = [words for words in map(tokenizer, sentences) if words]
        if not tokenized:
            raise ValueError("no words to train on")
        if not 0.0 <= prior_weight < 1.0 or (prior_weight > 0) != bool(unigram_prior):
            raise ValueError("prior_weight must be in [0, 1) and > 0 exactly when a "
                             "unigram_prior is given")
        frequency = Counter(word for words in tokenized for word in words)
        prior = _normalised_prior(unigram_prior or {})
        # Deterministic ids: frequent words first, ties alphabetical; then the prior's words.
        vocab = [UNK, BOS, EOS, *sorted(frequency, key=lambda w: (-frequency[w], w)),
                 *sorted(set(prior) - set(frequency), key=lambda w: (-prior[w], w))]
        ids = {word: i for i, word in enumerate(vocab)}
        sequence, sentence_of = _padded(
            [[ids[word] for word in words] for words in tokenized], order)

        # n-gram windows of every order that stay inside one padded sentence
        grams: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # order -> (unique windows, counts)
        for n in range(1, order + 1):
            starts = np.flatnonzero(sentence_of[: len(sequence) - n + 1]
                                    == sentence_of[n - 1:])
            windows = np.stack([sequence[starts + i] for i in range(n)], axis=1)
            windows = windows[windows[:, -1] != _BOS_ID]  # <s> is context only
            keys = _keys(windows)
            _, first, counts = np.unique(keys, return_index=True, return_counts=True)
            grams[n] = (windows[first], counts)

        # The counts each order is smoothed with: raw at the top, continuation counts below.
        adjusted: dict[int, np.ndarray] = {order: grams[order][1].astype(np.float64)}
        for n in range(1, order):
            windows, raw = grams[n]
            suffixes, followers = np.unique(_keys(grams[n + 1][0][:, 1:]), return_counts=True)
            at, found = _lookup(_keys(windows), suffixes)
            continuation = np.where(found, followers[at], 0)
            adjusted[n] = np.where(windows[:, 0] == _BOS_ID, raw, continuation).astype(np.float64)

        unigram = cls._unigram(len(vocab), grams[1][0][:, 0], adjusted[1])
        if prior:
            mixed = np.zeros(len(vocab))
            mixed[[ids[word] for word in prior]] = list(prior.values())
            unigram = (1 - prior_weight) * unigram + prior_weight * mixed
            unigram[_BOS_ID] = 1.0
        tables = [cls._table(grams[n][0], adjusted[n]) for n in range(2, order + 1)]
        info = {"order": str(order), "sentences": str(len(tokenized)),
                "tokens": str(int(sum(map(len, tokenized)))), "vocabulary": str(len(vocab)),
                **({"prior_words": str(len(prior)), "prior_weight": f"{prior_weight:g}"}
                   if prior else {}),
                **(metadata or {})}
        skeleton = None
        if skeleton_words:
            ranked = sorted(prior or frequency,
                            key=lambda w: (-(prior or frequency)[w], w))[:skeleton_words]
            kept = frozenset(ranked)
            skeleton = cls.train(
                [ngram_skeleton.skeleton(words, kept) for words in tokenized],
                order=skeleton_order, tokenizer=list,
                metadata={"kept_words": " ".join(sorted(kept))})
            info["skeleton_words"] = str(len(kept))
        return cls(vocab, unigram, tables, info, rarity_discount, repeat_penalty,
                   order_contrast, symbol_penalty, unknown_penalty, skeleton, skeleton_weight,
                   skeleton_contrast, name_cost)

    @staticmethod
    def _unigram(vocab_size: int, word_ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        discount = _discounts(counts)
        kept = counts - discount[np.minimum(counts, 3).astype(int) - 1]
        total = counts.sum()
        spare = (total - kept.sum()) / total  # mass left for the uniform distribution
        predictable = vocab_size - 1  # every word but <s>
        probability = np.full(vocab_size, spare / predictable)
        probability[word_ids] += kept / total
        probability[_BOS_ID] = 1.0  # never predicted; log 0 keeps it out of sums
        return probability

    @staticmethod
    def _table(windows: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
        """Sorted n-gram keys with their discounted weight, and per history the interpolation
        weights: p(w|h) = weight(hw) / total(h) + backoff(h) * p(w|shorter h)."""
        discount = _discounts(counts)
        kind = np.minimum(counts, 3).astype(int) - 1
        history_keys, inverse = np.unique(_keys(windows[:, :-1]), return_inverse=True)
        total = np.bincount(inverse, weights=counts)
        spare = np.bincount(inverse, weights=discount[kind])
        gram_keys = _keys(windows)
        order = np.argsort(gram_keys)
        return {
            "gram_keys": gram_keys[order],
            "gram_prob": ((counts - discount[kind]) / total[inverse])[order].astype(np.float32),
            "history_keys": history_keys,
            "backoff": (spare / total).astype(np.float32),
        }

    # ------------------------------------------------------------------ scoring
    def encode(self, text: str) -> list[int]:
        get = self.ids.get
        return [get(word, _UNK_ID) for word in tokenize(text)]

    def names(self, text: str, count: int) -> list[bool]:
        """For each of the `count` tokens of `text`: whether it is a proper name (module doc).
        None are when the text read with its case gives other tokens (odd Unicode casing)."""
        text = unicodedata.normalize("NFKC", text).replace("’", "'")
        tokens = _TOKEN.findall(text)
        if len(tokens) != count:
            return [False] * count
        grammar = self._grammar_words
        return [i > 0 and token[0].isupper() and tokens[i - 1] not in _SENTENCE_END
                and token.lower() not in grammar for i, token in enumerate(tokens)]

    def log_probs(self, encoded: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Natural log-probability of each word and </s> of every sentence (flat), and the
        number of scored tokens per sentence."""
        sequence, sentence_of = _padded(encoded, self.order)
        targets = np.flatnonzero(sequence != _BOS_ID)
        # Positions before the first target of each sentence are <s> padding, so the window
        # of the order-1 preceding ids never leaves the sentence.
        history = np.stack([sequence[targets - k] for k in range(self.order - 1, 0, -1)], axis=1)
        words = sequence[targets]
        probability = np.exp(self.unigram_log[words])
        for n, table in enumerate(self.tables, start=2):
            context = history[:, self.order - n:]
            at, found = _lookup(_keys(context), table["history_keys"])
            gram_at, gram_found = _lookup(_keys(np.column_stack([context, words])),
                                          table["gram_keys"])
            direct = np.where(gram_found, table["gram_prob"][gram_at], 0.0)
            probability = np.where(found, direct + table["backoff"][at] * probability,
                                   probability)
        counts = np.bincount(sentence_of[targets], minlength=len(encoded))
        return np.log(probability), counts

    def perplexities(self, texts: Sequence[str]) -> list[float]:
        """exp(mean negative log-likelihood per token, </s> included), less the rarity discount,
        plus the repeat penalty, contrasted with the reversed sentence, plus the symbol penalty
        (module doc); nan for texts without a word (as the other scorers)."""
        encoded = [self.encode(text) for text in texts]
        if not encoded:
            return []
        names = ([self.names(text, len(ids)) for text, ids in zip(texts, encoded, strict=True)]
                 if self.name_cost else None)
        if self.order_contrast:
            # both readings in one batch: the sentences, then each one reversed
            costs = self.costs([*encoded, *(ids[::-1] for ids in encoded)],
                               names and [*names, *(flags[::-1] for flags in names)])
            forwards, backwards = costs[:len(encoded)], costs[len(encoded):]
            costs = forwards + self.order_contrast * (forwards - backwards)
        else:
            costs = self.costs(encoded, names)
        if self.skeleton_weight or self.skeleton_contrast:
            costs = costs + self.skeleton_costs(encoded)
        if self.symbol_penalty:
            marks = np.array([len(_SYMBOL.findall(text)) for text in texts], dtype=np.float64)
            tokens = np.array([len(ids) + 1 for ids in encoded], dtype=np.float64)  # </s> too
            costs = costs + self.symbol_penalty * marks / tokens
        values = np.exp(costs)
        return [float(v) if words else float("nan")
                for v, words in zip(values.tolist(), encoded, strict=True)]

    def skeleton_costs(self, encoded: Sequence[Sequence[int]]) -> np.ndarray:
        """skeleton_weight times the skeleton model's cost per token of each sentence, plus
        skeleton_contrast times that cost less the cost of the skeleton read backwards."""
        lengths = [len(ids) for ids in encoded]
        flat = np.fromiter(chain.from_iterable(encoded), dtype=np.int64, count=sum(lengths))
        classes = np.split(self._skeleton_of[flat], np.cumsum(lengths)[:-1])
        costs = self.skeleton.costs([*classes, *(ids[::-1] for ids in classes)])
        forwards, backwards = costs[:len(encoded)], costs[len(encoded):]
        return (self.skeleton_weight * forwards
                + self.skeleton_contrast * (forwards - backwards))

    def costs(self, encoded: Sequence[Sequence[int]],
              names: Sequence[Sequence[bool]] | None = None) -> np.ndarray:
        """Mean cost per token of each sentence: its negative log-probability less the rarity
        discount (plus the unknown penalty for an unknown word; at most name_cost for a token
        `names` flags), or for a repeated token its unigram surprisal plus the repeat
        penalty."""
        log_probs, counts = self.log_probs(encoded)
        if names is not None and self.name_cost:
            flags = np.fromiter(chain.from_iterable([*f, False] for f in names), dtype=bool,
                                count=len(log_probs))
        if self.rarity_discount or self.repeat_penalty or self.unknown_penalty or self.name_cost:
            # the scored tokens in order: each sentence's words, then </s>
            scored = np.fromiter(chain.from_iterable([*ids, _EOS_ID] for ids in encoded),
                                 dtype=np.int64, count=len(log_probs))
            unigram = self.unigram_log[scored]
            known = scored != _UNK_ID
            log_probs = (log_probs - self.rarity_discount * unigram * known
                         - self.unknown_penalty * ~known)
            if names is not None and self.name_cost:
                log_probs = np.where(flags, np.maximum(log_probs, -self.name_cost), log_probs)
            if self.repeat_penalty:
                log_probs = np.where(self.repeats(encoded), unigram - self.repeat_penalty,
                                     log_probs)
        sums = np.add.reduceat(log_probs, np.concatenate([[0], np.cumsum(counts)[:-1]]))
        return -sums / counts

    def repeats(self, encoded: Sequence[Sequence[int]]) -> np.ndarray:
        """For each scored token (as log_probs orders them): whether it repeats the word just
        before it, or ends an n-gram of REPEAT_ORDER tokens that came earlier in its sentence."""
        sequence, sentence_of = _padded(encoded, REPEAT_ORDER)
        targets = np.flatnonzero(sequence != _BOS_ID)
        windows = np.stack([sequence[targets - k] for k in range(REPEAT_ORDER - 1, -1, -1)],
                           axis=1)
        doubled = (windows[:, -1] == windows[:, -2]) & self._is_word[windows[:, -1]]
        # the n-gram keyed together with its sentence: a repeat is any but the first occurrence
        keys = _keys(np.column_stack([sentence_of[targets], windows]))
        _, first = np.unique(keys, return_index=True)
        again = np.ones(len(keys), dtype=bool)
        again[first] = False
        return doubled | again

    # ------------------------------------------------------------------ storage
    def save(self, path: str | Path) -> None:
        arrays = self._arrays()
        if self.skeleton is not None:
            arrays.update({f"{SKELETON_PREFIX}{name}": values
                           for name, values in self.skeleton._arrays().items()})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        Path(path).write_bytes(buffer.getvalue())

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"unigram_log": self.unigram_log,
                  "vocab": np.frombuffer("\n".join(self.vocab).encode(), dtype=np.uint8),
                  "metadata": np.frombuffer(_encode_metadata(
                      {**self.metadata, "format": str(FORMAT_VERSION)}), dtype=np.uint8)}
        for n, table in enumerate(self.tables, start=2):
            arrays.update({f"{name}_{n}": values for name, values in table.items()})
        return arrays

    @classmethod
    def load(cls, path: str | Path) -> NgramLM:
        try:
            with np.load(path) as data:
                arrays = {name: data[name] for name in data.files}
            skeleton_arrays = {name.removeprefix(SKELETON_PREFIX): values
                               for name, values in arrays.items()
                               if name.startswith(SKELETON_PREFIX)}
            skeleton = cls._from_arrays(skeleton_arrays, path) if skeleton_arrays else None
            return cls._from_arrays(arrays, path, skeleton)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            if isinstance(error, _FormatError):
                raise
            raise ValueError(f"{path} is not a readable n-gram model: {error}") from None

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], path: str | Path,
                     skeleton: NgramLM | None = None) -> NgramLM:
        metadata = _decode_metadata(arrays["metadata"].tobytes())
        if metadata.get("format") != str(FORMAT_VERSION):
            raise _FormatError(f"{path}: n-gram model format {metadata.get('format')}, "
                               f"expected {FORMAT_VERSION}; rebuild it")
        vocab = arrays["vocab"].tobytes().decode().split("\n")
        tables = [{name: arrays[f"{name}_{n}"] for name in
                   ("gram_keys", "gram_prob", "history_keys", "backoff")}
                  for n in range(2, int(metadata["order"]) + 1)]
        unigram = np.exp(arrays["unigram_log"])
        return cls(vocab, unigram, tables, metadata, skeleton=skeleton)


class _FormatError(ValueError):
    """A model file written in another format version."""


def _normalised_prior(frequencies: Mapping[str, float]) -> dict[str, float]:
    """The prior's words in the model's normalisation (a word whose normalised form is not one
    token is left out; words that normalise alike add up), as a distribution."""
    merged: dict[str, float] = {}
    for word, value in frequencies.items():
        tokens = tokenize(word)
        if len(tokens) == 1 and value > 0:
            merged[tokens[0]] = merged.get(tokens[0], 0.0) + float(value)
    total = sum(merged.values())
    return {word: value / total for word, value in merged.items()}


def _padded(encoded: Sequence[Sequence[int]], order: int) -> tuple[np.ndarray, np.ndarray]:
    """All sentences in one array, each as order-1 <s>, its ids, </s>; and the sentence index
    of every position."""
    lengths = np.array([len(ids) for ids in encoded], dtype=np.int64) + order
    sequence = np.full(int(lengths.sum()), _BOS_ID, dtype=np.int64)
    ends = np.cumsum(lengths)
    sequence[ends - 1] = _EOS_ID
    body = lengths - order
    if body.sum():
        # first body position of each sentence, minus the body tokens before it
        shift = ends - lengths + order - 1 - (np.cumsum(body) - body)
        positions = np.repeat(shift, body) + np.arange(int(body.sum()))
        sequence[positions] = np.fromiter(chain.from_iterable(encoded), dtype=np.int64,
                                          count=int(body.sum()))
    sentence_of = np.repeat(np.arange(len(encoded)), lengths)
    return sequence, sentence_of


def _encode_metadata(metadata: dict[str, str]) -> bytes:
    return "\n".join(f"{key}\t{value}" for key, value in sorted(metadata.items())).encode()


def _decode_metadata(raw: bytes) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in raw.decode().split("\n") if "\t" in line)
