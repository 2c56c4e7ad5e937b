"""The former held-out perplexity set, now the second tuning set: sources disjoint from the
n-gram model's training text and from the first tuning set (perplexity_labelled_set.py). It was
only measured until v3 (three configurations were measured on it); issue #25 part 1 then made it
a tuning set, and the scorer's figures on text nobody tuned to come from the unseen set
(perplexity_unseen_set.py), drawn from new packages and committed before it was first measured.

Clean, three sources (files under data/, see their headers):
- fortunes: sentences of the fortune cookie files on everyday topics (Debian `fortunes`,
  BSD-3-Clause), prose the project did not write;
- gimp: sentences of the GIMP manual (Debian `gimp-help-en`, GFDL-1.2+), prose the project did
  not write; both chosen by scripts/build_perplexity_labelled_set.py;
- everyday: plain sentences about everyday things written for the project apart from the tuning
  set, starting with the four examples of issue #25.

Bad, machine-made with a fixed seed from the held-out clean sentences (never the tuning ones):
repeated words, shuffled word order and character noise; plus boilerplate built from a pool of
footer, banner and pagination strings unlike the tuning set's menu items, and code lines of the
Python standard library (data/perplexity_heldout_code.txt).
"""

from __future__ import annotations

import random
import string

from tests.extract.perplexity_labelled_set import read_lines

BAD_PER_KIND = 100
BAD_KINDS = ("repeated_words", "shuffled", "char_noise", "boilerplate", "code")
# Share of letters the character noise changes (each replaced, dropped or doubled).
NOISE_SHARE = 0.15

BOILERPLATE = [
    "This website uses cookies to improve your experience", "Accept all", "Reject all",
    "Manage preferences", "Posted by admin", "Leave a comment", "0 Comments", "Share this:",
    "Email", "Print", "Like this:", "Loading...", "Related posts", "Filed under: Uncategorized",
    "Tags:", "Page 1 of 12", "Next »", "« Older entries", "Newer entries »", "Continue reading",
    "All prices include VAT", "Add to basket", "In stock", "Out of stock", "Free returns",
    "Customer reviews", "Write a review", "Sort by: Most popular", "Show 24 per page",
    "Follow us on Instagram", "Join our mailing list", "Enter your email address",
    "Unsubscribe at any time", "Copyright 2019-2024 Example Ltd", "Company number 01234567",
    "Terms and conditions apply", "Cookie settings", "Accessibility statement", "Site map",
    "Back to the homepage", "You are here: Home", "Categories", "Archives", "Recent comments",
    "Powered by Shopify", "Designed by Studio Nine", "Last updated: 12 March 2021",
]
BOILERPLATE_SEPARATORS = [" | ", " · ", " > ", " / ", "  ", " • "]


def clean_sentences() -> dict[str, list[str]]:
    return {"fortunes": read_lines("perplexity_heldout_fortunes.txt"),
            "gimp": read_lines("perplexity_heldout_gimp.txt"),
            "everyday": read_lines("perplexity_heldout_everyday.txt")}


def bad_sentences(seed: int = 25) -> dict[str, list[str]]:
    """BAD_PER_KIND machine-made bad sentences of each kind."""
    clean = [s for group in clean_sentences().values() for s in group]
    return machine_made(seed, clean, BOILERPLATE, read_lines("perplexity_heldout_code.txt"))


def machine_made(seed: int, clean: list[str], boilerplate: list[str],
                 code: list[str]) -> dict[str, list[str]]:
    """BAD_PER_KIND of each kind, made with a fixed seed from the `clean` sentences and the
    `boilerplate` items; the first BAD_PER_KIND `code` lines (real, not made)."""
    rng = random.Random(seed)
    return {
        "repeated_words": [_repeated_words(rng, rng.choice(clean)) for _ in range(BAD_PER_KIND)],
        "shuffled": [_shuffled(rng, rng.choice(clean)) for _ in range(BAD_PER_KIND)],
        "char_noise": [_char_noise(rng, rng.choice(clean)) for _ in range(BAD_PER_KIND)],
        "boilerplate": [_boilerplate(rng, boilerplate) for _ in range(BAD_PER_KIND)],
        "code": code[:BAD_PER_KIND],
    }


def _repeated_words(rng: random.Random, sentence: str) -> str:
    words = sentence.rstrip(".").split()
    if rng.random() < 0.5:  # every word doubled (or tripled), as broken extractors repeat
        times = rng.choice([2, 3])
        return " ".join(word for word in words for _ in range(times)) + "."
    start = rng.randrange(len(words))  # a span of 1-3 words repeated 4-8 times in place
    span = words[start:start + rng.randint(1, 3)]
    return " ".join([*words[:start], *span * rng.randint(4, 8),
                     *words[start + len(span):]]) + "."


def _shuffled(rng: random.Random, sentence: str) -> str:
    words = sentence.rstrip(".").split()
    original = list(words)
    while words == original and len(set(words)) > 1:
        rng.shuffle(words)
    text = " ".join(words)
    return text[:1].upper() + text[1:] + "."


def _char_noise(rng: random.Random, sentence: str) -> str:
    out = []
    for char in sentence:
        if char.isalpha() and rng.random() < NOISE_SHARE:
            action = rng.random()
            if action < 0.5:
                out.append(rng.choice(string.ascii_lowercase))
            elif action < 0.75:
                continue
            else:
                out.append(char * 2)
        else:
            out.append(char)
    return "".join(out)


def _boilerplate(rng: random.Random, pool: list[str] = BOILERPLATE) -> str:
    items = rng.sample(pool, rng.randint(3, 8))
    return rng.choice(BOILERPLATE_SEPARATORS).join(items)
