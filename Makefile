# Set-up and entry points. `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.realsyn-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test lint bench clean sample-corpus perplexity-model

setup: $(STAMP)

# The torch/torchvision pair is installed first so that later requirements never pull another
# build (see docs in README: "Installing").
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[offline,clip,ray,dev]'
	touch $(STAMP)

demo: setup perplexity-model
	$(VENV)/bin/realsyn run configs/sample.yaml

test: setup perplexity-model
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts

# The default perplexity scorer's n-gram model, trained from two Debian packages into the cache
# (~/.cache/realsyn or $REALSYN_CACHE; the scorer would also build it on first use).
NGRAM_PACKAGES := wordnet-base python3.11-doc
perplexity-model: setup
	dpkg -s $(NGRAM_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NGRAM_PACKAGES); }
	$(PY) scripts/build_ngram_lm.py

# The peers the benchmarks compare against (datatrove, imagehash) come with the bench extra.
bench: setup perplexity-model
	$(PY) -m pip install --quiet -e '.[offline,clip,ray,dev,bench]'
	$(PY) benchmarks/bench_extract.py

sample-corpus: setup
	$(PY) scripts/build_sample_corpus.py

clean:
	rm -rf workspace $(VENV)
