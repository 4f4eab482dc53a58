"""Shared fixtures: small real-MNIST data sets and a small trained model.

The digits come from the shared MNIST file (`MNIST_NPZ`, default ../shared/data/mnist.npz);
nothing is downloaded.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MNIST_NPZ = Path(os.environ.get("MNIST_NPZ", REPO.parent / "shared" / "data" / "mnist.npz"))


def run_cli(*args, env=None, timeout=300, **kwargs):
    """Run the installed `digitcli` in a subprocess; returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "digitcli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kwargs)


@pytest.fixture(scope="session")
def mnist():
    if not MNIST_NPZ.is_file():
        pytest.fail(f"MNIST file not found at {MNIST_NPZ}; set MNIST_NPZ")
    with np.load(MNIST_NPZ) as data:
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


@pytest.fixture(scope="session")
def trained(digits_tree, tmp_path_factory):
    """A CNN trained for 2 epochs on `digits_tree`: (TrainResult, weights path)."""
    from digitcli.training import TrainConfig, train

    weights = tmp_path_factory.mktemp("model") / "digits.h5"
    result = train(TrainConfig(data_dir=str(digits_tree), epochs=2, batch_size=32, weights=str(weights)),
                   say=lambda line: None)
    return result, weights


@pytest.fixture
def copy_model(trained, tmp_path):
    """A private copy of the trained model's files (tests may break them)."""
    _, weights = trained
    for f in weights.parent.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / weights.name
