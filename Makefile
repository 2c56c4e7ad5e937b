# Set-up and entry points. `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.realsyn-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test lint bench clean sample-corpus browser

setup: $(STAMP)

# The torch/torchvision pair is installed first so that later requirements never pull another
# build (see docs in README: "Installing").
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[offline,clip,ray,dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/realsyn run configs/sample.yaml
	@echo "report:"
	@$(VENV)/bin/realsyn report configs/sample.yaml

# The browser test drives Debian's chromium (never a downloaded browser); installed here when
# missing and possible (root on Debian), else that one test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed and not root on Debian: the browser test will skip"; fi; }

test: setup browser
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts

sample-corpus: setup
	$(PY) scripts/build_sample_corpus.py

clean:
	rm -rf workspace $(VENV)
