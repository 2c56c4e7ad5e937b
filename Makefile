# Set-up and entry points. `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.realsyn-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test lint docs bench throughput clean sample-corpus system-deps perplexity-model mutation

setup: $(STAMP)

# The torch/torchvision pair is installed first so that later requirements never pull another
# build (see docs/getting-started.md, "Installing").
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[offline,clip,ray,dev,docs]'
	touch $(STAMP)

demo: setup perplexity-model
	$(VENV)/bin/realsyn run configs/sample.yaml
	@echo "report:"
	@$(VENV)/bin/realsyn report configs/sample.yaml

# Debian packages some tests need: the GIMP manual the sample corpus is rebuilt from, and the
# chromium the browser tests drive (never a downloaded browser): the report page, and the HTML
# reader against what Chromium shows (its pages are committed under tests/ingest/data). Installed
# when apt-get is there and we are root; elsewhere those tests skip and say why.
DEBIAN_TEST_PACKAGES := gimp-help-en chromium
system-deps:
	@missing=$$(for p in $(DEBIAN_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages for the tests: $$missing"; \
		apt-get install -y -q $$missing >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
	else echo "not installed (no apt-get or not root): $$missing; tests that need them skip"; fi

test: setup system-deps perplexity-model
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory docs

# The documentation site into site/; --strict (also set in mkdocs.yml) fails on a broken link or
# anchor, a page left out of the nav, and a config field or CLI option without a description.
docs: setup
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(VENV)/bin/mkdocs build --strict --quiet

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

# The README's per-stage throughput table: the demo and the Debian handbook (Debian package
# debian-handbook) through the whole pipeline into benchmarks/results/throughput/, then the table.
throughput: setup perplexity-model
	dpkg -s debian-handbook >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debian-handbook; }
	$(PY) benchmarks/bench_stages.py

# Mutation testing of the core modules, each with its own fast tests (scripts/mutation.py), and
# tests/MUTATION.md rewritten from the results. One module: make mutation MODULES=extract/phash.py
MODULES ?=
mutation: setup
	$(PY) -m pip install --quiet -e '.[offline,clip,ray,dev,mutation]'
	$(PY) scripts/mutation.py $(MODULES)

sample-corpus: setup
	$(PY) scripts/build_sample_corpus.py

clean:
	rm -rf workspace $(VENV)
