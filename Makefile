# The two commands of the README, and what they need. Every step is idempotent and cached.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: gameday test install sandbox-down benchmark

## make gameday: install what is missing, then run a full game day against the sandbox
gameday: install
	$(BIN)/gameday run --no-install

## make test: install what is missing (with the Kubernetes control plane), then run every test
## (they start the real twin; a cold Kubernetes build takes ~12 min once, then it is cached).
## Two lanes (tests/conftest.py _lane): one worker runs every twin test in order, the other the tests
## that need no twin, at a lower CPU priority.
test: $(VENV)/.installed
	$(BIN)/gameday sandbox install --kubernetes
	$(BIN)/ruff check .
	$(BIN)/pytest -ra --durations=25 -n 2

install: $(VENV)/.installed
	$(BIN)/gameday sandbox install

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

sandbox-down:
	$(BIN)/gameday sandbox down

benchmark: install
	$(BIN)/python benchmarks/sandbox_bench.py
	$(BIN)/python benchmarks/load_bench.py
	$(BIN)/python benchmarks/rto_bench.py
	$(BIN)/python benchmarks/restore_bench.py
	$(BIN)/python benchmarks/regions_bench.py
	$(BIN)/pytest -x -s -p no:cacheprovider benchmarks/mirror_check.py

.PHONY: image image-check

## make image: build the container image deploy/ runs (localhost/gameday:latest) with buildah, as root;
## a cold build (debootstrap + wheels) takes ~4 min once, then only changed context rebuilds (~1 min)
image:
	PYTHON=$(PYTHON) deploy/image/build.sh

## make image-check: inside the image, as uid 10001: gameday --version, run --help, an environment file
image-check:
	deploy/image/check.sh
