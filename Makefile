# Set-up and checks. `make install` once, then `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# Tests and benchmarks find MNIST themselves: MNIST_NPZ if set, else ../shared/data/mnist.npz,
# else Keras's cache ~/.keras/datasets/mnist.npz, else Keras's download.

.PHONY: install system-packages test bench bench-models bench-serve bench-hostile bench-train-overhead bench-explain clean

NPM_PROJECTS := examples/node digitcli/convert/web
install: $(VENV)/.installed system-packages $(NPM_PROJECTS:%=%/node_modules/.package-lock.json)

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Debian's chromium (the drawing-page tests drive it) and hey (load for the serve benchmarks):
# installed here when running as root with apt, else named for you to install.
system-packages:
	@missing=""; command -v chromium >/dev/null || missing="chromium"; command -v hey >/dev/null || missing="$$missing hey"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian packages:$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "*** Missing system packages:$$missing. Install them (sudo apt-get install$$missing):"; \
	    echo "*** without chromium the browser tests are skipped (make test says so at the end)."; \
	  fi; \
	fi

# npm packages, pinned with their checksums in each package-lock.json: the Node example's
# (onnxruntime-node: its install script would fetch optional GPU files from elsewhere; its CPU
# binaries are in the package) and onnxruntime-web, which `digitcli convert --to web` copies.
%/node_modules/.package-lock.json: %/package-lock.json
	@if command -v npm >/dev/null; then cd $* && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error; \
	else echo "*** npm is missing: the Node and web-folder tests are skipped (install Node.js 20 with npm)"; fi

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/bench.py --out bench-out

bench-models: install
	$(PY) bench/bench_models.py --out bench-out

bench-serve: install
	$(PY) bench/bench_serve.py --out bench-out

bench-hostile: install
	$(PY) bench/bench_hostile.py --out bench-out --baseline $${BASELINE:-HEAD}

bench-explain: install
	$(PY) bench/bench_explain.py $${WEIGHTS:-mnist_neuronet.h5}

bench-train-overhead: install
	$(PY) bench/bench_train_overhead.py --out bench-out --data-dir bench-out/data --baseline $${BASELINE:-HEAD}

clean:
	rm -rf bench-out .pytest_cache build *.egg-info
