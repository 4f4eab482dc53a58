# Set-up and checks. `make install` once, then `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED ?= ../shared/data
export MNIST_NPZ ?= $(abspath $(SHARED)/mnist.npz)

.PHONY: install test bench bench-models clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/bench.py --source $(MNIST_NPZ) --out bench-out

bench-models: install
	$(PY) bench/bench_models.py --source $(MNIST_NPZ) --out bench-out

clean:
	rm -rf bench-out .pytest_cache build *.egg-info
