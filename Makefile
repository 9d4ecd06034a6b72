# make test : install everything (Debian packages, .venv with the pinned stack) and run the tests
# make demo : install everything and run the demo
# Both are idempotent: a second run reuses .venv and installs nothing new.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install system test test-fast demo clean

system:
	bash scripts/install_system.sh

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): setup.py requirements-assets.txt | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps -r requirements-assets.txt
	touch $(STAMP)

install: system $(STAMP)

test: install
	$(PY) -m pytest -q tests

test-fast: install
	$(PY) -m pytest -q -m "not slow" tests

demo: install
	$(PY) -m llama_omni_cli chat --audio "$$($(PY) -c 'from offline_assets.embedded import demo_question; print(demo_question())')" --out-dir answers
	@echo "The answer is in answers/. Starting the Space on http://127.0.0.1:7860 (Ctrl+C to stop) ..."
	$(PY) space/app.py --host 127.0.0.1 --port 7860

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
