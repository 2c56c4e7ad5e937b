"""Build the default n-gram perplexity model into the cache (the scorer also builds it on first
use; `make perplexity-model` runs this after installing the Debian packages it reads).

Training text: WordNet 3.0 glosses and examples (Debian wordnet-base, WordNet licence) and the
Python 3.11 documentation's prose (Debian python3.11-doc, PSF License 2.0); unigram prior: the
English word frequencies of the PyPI package wordfreq 3.1.1 (Apache-2.0 code, CC-BY-SA-4.0 data);
see src/realsyn/models/ngram_corpus.py. The build is deterministic: the same packages give the
same model. It takes well under a minute on one core.

Usage: .venv/bin/python scripts/build_ngram_lm.py [--out FILE] [--force]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from realsyn.models.perplexity import NGRAM_NAME, build_default_ngram, ngram_cache_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help=f"Default: the cache's {NGRAM_NAME}.")
    parser.add_argument("--force", action="store_true", help="Rebuild an existing model.")
    args = parser.parse_args()
    target = args.out or ngram_cache_path()
    if target.exists() and not args.force:
        print(f"{target} exists (--force rebuilds it)")
        return
    started = time.perf_counter()
    model = build_default_ngram(target)
    info = ", ".join(f"{key} {value}" for key, value in sorted(model.metadata.items()))
    print(f"{target}: {info}; {target.stat().st_size / 1e6:.0f} MB in "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
