# Set-up and checks. `make install` once, then `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# Tests and benchmarks find MNIST themselves: MNIST_NPZ if set, else ../shared/data/mnist.npz,
# else Keras's cache ~/.keras/datasets/mnist.npz, else Keras's download.

.PHONY: install test bench bench-models bench-serve clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/bench.py --out bench-out

bench-models: install
	$(PY) bench/bench_models.py --out bench-out

bench-serve: install
	$(PY) bench/bench_serve.py --out bench-out

clean:
	rm -rf bench-out .pytest_cache build *.egg-info
