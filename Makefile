# deepprior: set-up, tests and the demo.
#
#   make install   create $(VENV) and install deepprior with its dev tools
#   make test      ruff + pytest (what CI runs, through .ci/run)
#   make lint      ruff check + ruff format --check
#   make demo      denoise a 128x128 crop of scikit-image's astronaut into demo_out/
#   make clean     remove demo output and caches (keeps the venv)
#   make distclean clean, and remove the venv too

VENV ?= .venv
PYTHON ?= python3
PY = $(VENV)/bin/python
PIP = $(PY) -m pip -q --disable-pip-version-check
PYTEST_ARGS ?=
# Test processes (pytest-xdist), one torch thread each; 2 suits a 2-core machine.
TEST_WORKERS ?= 2
# torch is pinned only when absent: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0

.PHONY: install test lint demo clean distclean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install $(TORCH_PIN)
	$(PIP) install -e ".[dev]"
	touch $@

test: install
	$(PY) -m ruff check src tests
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check src tests examples
	$(PY) -m ruff format --check src tests examples

demo: install
	$(PY) examples/demo.py --out demo_out

clean:
	rm -rf demo_out .pytest_cache .ruff_cache build dist
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
