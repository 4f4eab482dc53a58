"""Shared fixtures: small real-MNIST data sets and a small trained model.

The digits come from a local MNIST .npz, found as `data_tools.sources.locate_mnist_npz`
finds it (MNIST_NPZ, ../shared/data beside the checkout, Keras's cache, Keras's download).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from browser import browser  # noqa: E402,F401  (the fixture: Playwright's Chromium, for the page tests)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def generated_images_cache(tmp_path_factory):
    """The generated outliers `train` keeps between runs go to a folder of this test session,
    not to the user's cache (the CLI's subprocesses inherit it)."""
    os.environ["DIGITCLI_CACHE"] = str(tmp_path_factory.mktemp("cache"))


def run_cli(*args, env=None, timeout=300, **kwargs):
    """Run the installed `digitcli` in a subprocess; returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "digitcli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kwargs)


@pytest.fixture(scope="session")
def mnist_npz():
    """Path of the MNIST .npz; stops the whole run with one line when there is none."""
    from data_tools.sources import locate_mnist_npz
    from digitcli.errors import DigitcliError

    try:
        return locate_mnist_npz(REPO)
    except DigitcliError as exc:
        pytest.exit(f"Cannot run the tests: {exc}", returncode=2)


@pytest.fixture(scope="session")
def mnist(mnist_npz):
    with np.load(mnist_npz) as data:
        return {k: data[k] for k in data.files}


def write_npz(path, mnist, n_train, n_test):
    np.savez_compressed(path, x_train=mnist["x_train"][:n_train], y_train=mnist["y_train"][:n_train],
                        x_test=mnist["x_test"][:n_test], y_test=mnist["y_test"][:n_test])
    return path


@pytest.fixture(scope="session")
def small_npz(mnist, tmp_path_factory):
    """600 training and 200 test digits in Keras's .npz layout."""
    return write_npz(tmp_path_factory.mktemp("npz") / "small.npz", mnist, 600, 200)


@pytest.fixture(scope="session")
def digits_tree(mnist, tmp_path_factory):
    """An exported tree of 3000 training and 500 validation digits."""
    from data_tools.export import export_dataset
    from data_tools.sources import load_dataset

    npz = write_npz(tmp_path_factory.mktemp("npz") / "digits.npz", mnist, 3000, 500)
    root = tmp_path_factory.mktemp("digits") / "data"
    export_dataset(load_dataset("mnist", npz), root, workers=1)
    return root


def train_on(data_dir, folder, name, **config):
    """Train quietly on `data_dir` into folder/NAME.h5: (TrainResult, weights path)."""
    from digitcli.training import TrainConfig, train

    weights = folder / f"{name}.h5"
    return train(TrainConfig(data_dir=str(data_dir), weights=str(weights), **config), say=lambda line: None), weights


@pytest.fixture(scope="session")
def trained(digits_tree, tmp_path_factory):
    """A CNN trained for 2 epochs on `digits_tree`: (TrainResult, weights path)."""
    return train_on(digits_tree, tmp_path_factory.mktemp("model"), "digits", epochs=2, batch_size=32)


@pytest.fixture
def copy_model(trained, tmp_path):
    """A private copy of the trained model's files (tests may break them)."""
    _, weights = trained
    for f in weights.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / weights.name


def pytest_terminal_summary(terminalreporter):
    """Skipped browser and Node tests are named at the very end, where nobody misses them."""
    for what, marker, fix in (("BROWSER", "chromium", "make install installs it as root; else apt-get install chromium"),
                              ("NODE", "node", "install Node.js 20 with npm, then make install")):
        skipped = [r for r in terminalreporter.stats.get("skipped", []) if marker in str(r.longrepr).lower()]
        if skipped:
            terminalreporter.write_sep("!", f"{len(skipped)} {what} TESTS SKIPPED ({fix})", red=True, bold=True)
