"""The labelled set that perplexity scorers are measured and calibrated on, shared by
tests/extract/test_ngram_perplexity.py and benchmarks/bench_extract.py.

Clean: real sentences of the Debian Administrator's Handbook (data/perplexity_clean_handbook.txt,
rebuilt by scripts/build_perplexity_labelled_set.py) and plain descriptions of everyday things
(data/perplexity_clean_everyday.txt). Bad: machine-made from the clean ones and from small word
pools, deterministically (a fixed seed): word salad, keyword spam, repeated tokens,
boilerplate/menu strings and broken encodings; and 40 code lines of the handbook's <pre> blocks
(commands, their output, configuration; data/perplexity_tuning_code.txt).

A good scorer gives clean sentences lower perplexity than bad ones (ROC AUC near 1) and its
default window keeps the clean ones and drops the bad ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
BAD_PER_KIND = 40
BAD_KINDS = ("word_salad", "keyword_spam", "repeated_tokens", "boilerplate", "broken_encoding",
             "code")

SPAM_WORDS = [
    "cheap", "best price", "buy now", "free shipping", "discount", "sale", "hotels", "flights",
    "casino", "bonus", "loans", "weight loss", "replica watches", "iphone", "deals", "online",
    "top 10", "review", "coupon", "wholesale", "viagra", "click here", "limited offer", "win",
    "free", "download", "mp3", "crypto", "forex", "seo", "backlinks", "dating", "no credit check",
    "lowest price", "order today", "100% guaranteed", "best", "2024", "new", "hot",
]
MENU_ITEMS = [
    "Home", "About Us", "Contact", "Privacy Policy", "Terms of Use", "Login", "Sign up",
    "Register", "Cart", "Checkout", "FAQ", "Blog", "News", "Careers", "Sitemap",
    "Skip to main content", "Share on Facebook", "Tweet", "Pin it", "Subscribe to our newsletter",
    "© 2023 All rights reserved", "Powered by WordPress", "Read more", "Next page", "Previous",
    "Back to top", "Accept cookies", "Search", "My account", "Wishlist", "Shop", "Products",
    "Gallery", "Events", "Downloads", "Support", "Help", "Français", "Deutsch", "English",
]
MENU_SEPARATORS = [" | ", " » ", " · ", " / ", " - ", "  "]
# Accented letters whose UTF-8 bytes, read as cp1252, give the usual mojibake (é -> Ã©).
ACCENTED = {"a": "à", "e": "é", "i": "ï", "o": "ö", "u": "ü", "c": "ç", "n": "ñ"}


def read_lines(name: str) -> list[str]:
    """The lines of a data file, comments (#) and blank lines left out."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def assert_apart(labelled, earlier: Sequence, counts: list[int]) -> None:
    """The set of the module `labelled` has `counts` clean sentences per source and
    BAD_PER_KIND bad ones of each kind, the same every run (a fixed seed), and shares no clean
    or bad sentence with the sets of the modules `earlier`."""
    clean = {s for group in labelled.clean_sentences().values() for s in group}
    assert [len(v) for v in labelled.clean_sentences().values()] == counts
    seen = {s for module in earlier for group in module.clean_sentences().values()
            for s in group}
    assert not seen & clean
    bad = labelled.bad_sentences()
    assert set(bad) == set(labelled.BAD_KINDS)
    assert all(len(v) == labelled.BAD_PER_KIND for v in bad.values())
    assert bad == labelled.bad_sentences()
    seen_bad = {s for module in earlier for group in module.bad_sentences().values()
                for s in group}
    assert not seen_bad & {s for group in bad.values() for s in group}


def clean_sentences() -> dict[str, list[str]]:
    return {"handbook": read_lines("perplexity_clean_handbook.txt"),
            "everyday": read_lines("perplexity_clean_everyday.txt")}


def bad_sentences(seed: int = 15) -> dict[str, list[str]]:
    """BAD_PER_KIND machine-made bad sentences of each kind."""
    rng = random.Random(seed)
    clean = [s for group in clean_sentences().values() for s in group]
    words = sorted({w.strip(".,;:()") for s in clean for w in s.split()} - {""})
    makers = {"word_salad": _word_salad, "keyword_spam": _keyword_spam,
              "repeated_tokens": _repeated_tokens, "boilerplate": _boilerplate,
              "broken_encoding": _broken_encoding}
    made = {kind: [makers[kind](rng, clean, words) for _ in range(BAD_PER_KIND)]
            for kind in BAD_KINDS if kind in makers}
    # real lines, not made: commands, output and configuration of the handbook's <pre> blocks
    return {**made, "code": read_lines("perplexity_tuning_code.txt")[:BAD_PER_KIND]}


def _word_salad(rng: random.Random, clean: list[str], words: list[str]) -> str:
    if rng.random() < 0.5:  # a real sentence's words shuffled
        chosen = rng.choice(clean).rstrip(".").split()
        rng.shuffle(chosen)
    else:  # random words of the clean vocabulary
        chosen = rng.sample(words, rng.randint(8, 20))
    text = " ".join(chosen)
    return text[:1].upper() + text[1:] + "."


def _keyword_spam(rng: random.Random, clean: list[str], words: list[str]) -> str:
    chosen = [rng.choice(SPAM_WORDS) for _ in range(rng.randint(6, 14))]
    text = rng.choice([" ", ", ", " - "]).join(chosen)
    style = rng.random()
    if style < 0.3:
        text = text.upper()
    elif style < 0.6:
        text = text.title()
    return text + rng.choice(["", "!", "!!!", " !!!", "."])


def _repeated_tokens(rng: random.Random, clean: list[str], words: list[str]) -> str:
    sentence = rng.choice(clean).rstrip(".").split()
    start = rng.randrange(len(sentence))
    span = sentence[start:start + rng.randint(1, 3)]
    repeated = " ".join(span * rng.randint(4, 10))
    if rng.random() < 0.5:  # repetition inside an otherwise real sentence
        return " ".join([*sentence[:start], repeated, *sentence[start + len(span):]]) + "."
    return repeated[:1].upper() + repeated[1:]


def _boilerplate(rng: random.Random, clean: list[str], words: list[str]) -> str:
    items = rng.sample(MENU_ITEMS, rng.randint(4, 10))
    return rng.choice(MENU_SEPARATORS).join(items)


def _broken_encoding(rng: random.Random, clean: list[str], words: list[str]) -> str:
    text = rng.choice(clean)
    style = rng.random()
    if style < 0.6:  # accents written as UTF-8 and read back as cp1252 (mojibake)
        accented = "".join(ACCENTED[c] if c in ACCENTED and rng.random() < 0.35 else c
                           for c in text)
        return accented.encode("utf-8").decode("cp1252", errors="replace")
    if style < 0.8:  # undecodable bytes replaced by U+FFFD
        return "".join("\ufffd" if c.isalpha() and rng.random() < 0.25 else c for c in text)
    # text in another code page shown as Latin-1: every letter shifted to a foreign symbol
    return "".join(chr(ord(c) + 0x60) if c.isalpha() and c.isascii() and rng.random() < 0.5
                   else c for c in text)


# ---------------------------------------------------------------- measures
# How each scorer's default window is calibrated on this set (calibrate_window): the share of
# the clean sentences its upper bound keeps, and the share it lets fall below its lower bound.
# The n-gram scorer's upper bound keeps 99% (issue #25 asks for 98% on unseen text, so the
# bound leaves a margin) and its lower bound keeps every clean sentence: with the repeat penalty
# no bad sentence of this set scores near the clean minimum (the lowest bad one is 10x above).
CALIBRATION = {"ngram": (0.99, 0.0), "gguf": (0.97, 0.005)}
DEFAULT_CALIBRATION = (0.97, 0.005)

def roc_auc(clean_values: Sequence[float], bad_values: Sequence[float]) -> float:
    """P(a bad sentence scores a higher perplexity than a clean one), ties counting half;
    nan (unscorable: the filter drops it) counts as infinitely perplexing."""
    clean = np.nan_to_num(np.asarray(clean_values, dtype=np.float64), nan=np.inf)
    bad = np.nan_to_num(np.asarray(bad_values, dtype=np.float64), nan=np.inf)
    higher = (bad[:, None] > clean[None, :]).sum()
    ties = (bad[:, None] == clean[None, :]).sum()
    return float((higher + 0.5 * ties) / (len(bad) * len(clean)))


def kept_share(values: Sequence[float], low: float, high: float) -> float:
    """Share of sentences the window [low, high] keeps (nan is dropped, as the filter does)."""
    array = np.asarray(values, dtype=np.float64)
    return float(np.mean((array >= low) & (array <= high))) if len(array) else math.nan


def calibrate_window(clean_values: Sequence[float], clean_keep: float = 0.97,
                     low_share: float = 0.005) -> tuple[float, float]:
    """The window a scorer's defaults are chosen by: the upper bound keeps `clean_keep` of the
    clean sentences, the lower bound lets only `low_share` of them fall below; both rounded
    outwards to two significant digits so the defaults read as plain numbers."""
    finite = np.asarray([v for v in clean_values if math.isfinite(v)], dtype=np.float64)
    low = float(np.quantile(finite, low_share))
    high = float(np.quantile(finite, clean_keep))
    return _round_down(low), _round_up(high)


# The n-gram window's upper bound (v6, issue #25 part 1, round 7) protects the weakest source:
# the smallest bound at which every source of the tuning sets keeps this share of its clean
# sentences (a source of under 50 sentences then keeps all of them). v5's bound kept 99% of the
# pooled clean sentences, and left two sources under 98%.
NGRAM_SOURCE_KEEP = 0.98


def calibrate_per_source(clean_by_source: dict[str, Sequence[float]],
                         source_keep: float = NGRAM_SOURCE_KEEP) -> tuple[float, float]:
    """The window of the n-gram scorer's defaults: the upper bound is the smallest at which each
    source keeps `source_keep` of its clean sentences, the lower one keeps all of them; both
    rounded outwards to two significant digits."""
    if not 0 < source_keep <= 1:
        raise ValueError(f"source_keep must be in (0, 1], got {source_keep}")
    highs, lows = [], []
    for values in clean_by_source.values():
        ordered = np.sort(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=np.inf))
        highs.append(ordered[math.ceil(source_keep * len(ordered) - 1e-9) - 1])
        lows.append(ordered[0])
    return _round_down(min(lows)), _round_up(max(highs))


def _round_up(value: float) -> float:
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / step) * step, 12)  # 0.69, not 0.6900000000000001


def _round_down(value: float) -> float:
    if value <= 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return round(math.floor(value / step) * step, 12)


def default_ngram_scorer():
    """The default n-gram scorer; skips the calling test where its model is neither cached nor
    buildable (the Debian packages of its corpus are missing: `make perplexity-model`)."""
    import pytest

    from realsyn.models import ngram_corpus
    from realsyn.models.perplexity import make_scorer, ngram_cache_path

    if ngram_corpus.missing_packages() and not ngram_cache_path().exists():
        pytest.skip("needs the Debian packages of the n-gram corpus (make perplexity-model)")
    return make_scorer("ngram")


def default_window_quality(scorer, labelled) -> dict:
    """quality_report of `scorer` on the set of the module `labelled` (clean_sentences,
    bad_sentences) at the default window of the config's scorer (SentenceFilterConfig)."""
    from realsyn.config import SentenceFilterConfig

    config = SentenceFilterConfig()
    clean = {k: scorer.perplexities(v) for k, v in labelled.clean_sentences().items()}
    bad = {k: scorer.perplexities(v) for k, v in labelled.bad_sentences().items()}
    report = quality_report(clean, bad, (config.min_perplexity, config.max_perplexity))
    print(report)
    return report


def quality_report(clean: dict[str, list[float]], bad: dict[str, list[float]],
                   window: tuple[float, float],
                   calibration: tuple[float, float] = DEFAULT_CALIBRATION) -> dict:
    """AUC, and the shares kept (clean) or dropped (bad) by the window, per kind; and the window
    `calibration` (clean kept by the upper bound, share below the lower) suggests."""
    all_clean = [v for values in clean.values() for v in values]
    all_bad = [v for values in bad.values() for v in values]
    low, high = window
    return {
        "auc": roc_auc(all_clean, all_bad),
        "window": [low, high],
        "clean_kept": kept_share(all_clean, low, high),
        "bad_dropped": 1 - kept_share(all_bad, low, high),
        "kept_by_kind": {kind: kept_share(v, low, high) for kind, v in clean.items()},
        "dropped_by_kind": {kind: 1 - kept_share(v, low, high) for kind, v in bad.items()},
        "suggested_window": list(calibrate_window(all_clean, *calibration)),
    }
