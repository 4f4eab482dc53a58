"""Load MNIST-format datasets from Keras's cache, a Keras-style .npz, or IDX files."""

import gzip
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitcli.errors import DigitcliError

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "t-shirt-top", "trouser", "pullover", "dress", "coat",
        "sandal", "shirt", "sneaker", "bag", "ankle-boot",
    ],
}
# Where Debian's dataset-fashion-mnist package puts the IDX files (offline use).
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_DTYPE = {0x08: np.uint8}


@dataclass
class Dataset:
    """Train and test splits of 28x28 uint8 images with integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def class_names(self):
        return CLASS_NAMES[self.name]

    def splits(self):
        """(split folder name, images, labels) pairs, as written by `export`."""
        return [("train", self.x_train, self.y_train), ("validation", self.x_test, self.y_test)]


def load_dataset(name="mnist", source=None):
    """Load `name` from `source` (.npz file or IDX folder), or from Keras when None."""
    if name not in CLASS_NAMES:
        raise DigitcliError(f"unknown dataset {name!r}; choose from {', '.join(CLASS_NAMES)}")
    if source is None:
        if name == "fashion-mnist" and DEBIAN_FASHION_DIR.is_dir():
            arrays = read_idx_folder(DEBIAN_FASHION_DIR)
        else:
            arrays = download_with_keras(name)
    else:
        source = Path(source)
        if source.is_dir():
            arrays = read_idx_folder(source)
        elif source.is_file():
            arrays = read_npz(source)
        else:
            raise DigitcliError(f"source not found: {source}")
    dataset = Dataset(name, *(arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")))
    validate(dataset, source or "Keras")
    return dataset


def download_with_keras(name):
    """Keras's own loader: downloads once, then reads ~/.keras/datasets."""
    from digitcli.backend import import_keras

    keras = import_keras()
    loader = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:  # network errors come in many types
        raise DigitcliError(
            f"could not download {name} ({exc.__class__.__name__}: {exc}); "
            "pass --source with a local mnist.npz or IDX folder"
        ) from exc
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def keras_cache_npz():
    """Where Keras's `mnist.load_data()` keeps its download (KERAS_HOME, else ~/.keras)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"


def locate_mnist_npz(repo):
    """A local MNIST .npz for the tests and benchmarks of the checkout at `repo`.

    In order: the file named by MNIST_NPZ; ../shared/data/mnist.npz beside the checkout;
    Keras's cache; else Keras's own download (which fills that cache). Raises
    DigitcliError with one line on how to provide the file when none works.
    """
    named = os.environ.get("MNIST_NPZ")
    if named:
        if not Path(named).is_file():
            raise DigitcliError(f"MNIST_NPZ is set to {named}, which is not a file")
        return Path(named)
    for candidate in (Path(repo).resolve().parent / "shared" / "data" / "mnist.npz", keras_cache_npz()):
        if candidate.is_file():
            return candidate
    try:
        download_with_keras("mnist")
    except DigitcliError as exc:
        raise DigitcliError(
            f"MNIST not found and not downloadable ({exc.__cause__.__class__.__name__}): set MNIST_NPZ=/path/to/mnist.npz "
            f"or copy Keras's mnist.npz to {keras_cache_npz()}"
        ) from exc
    return keras_cache_npz()


def read_npz(path):
    """Read a Keras-layout mnist.npz (x_train, y_train, x_test, y_test)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in IDX_FILES if k not in data.files]
            if missing:
                raise DigitcliError(f"{path}: not a Keras-style MNIST .npz (missing {', '.join(missing)})")
            return {k: data[k] for k in IDX_FILES}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DigitcliError(f"{path}: cannot read as .npz ({exc})") from exc


def read_idx_folder(folder):
    """Read the four IDX files (plain or .gz) from `folder`."""
    arrays = {}
    for key, stem in IDX_FILES.items():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DigitcliError(f"{folder}: missing IDX file {stem}[.gz]")
        arrays[key] = read_idx(path)
    return arrays


def read_idx(path):
    """Parse one IDX file: magic (0, 0, dtype, ndim), big-endian dims, then data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DigitcliError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPE:
        raise DigitcliError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4)) if len(raw) >= header else ()
    if len(dims) != ndim or len(raw) != header + int(np.prod(dims)):
        raise DigitcliError(f"{path}: truncated or corrupt IDX file")
    return np.frombuffer(raw, IDX_DTYPE[raw[2]], offset=header).reshape(dims)


def validate(dataset, origin):
    """Check shapes, dtypes and label ranges; raise one clear error otherwise."""
    n_classes = len(dataset.class_names)
    for split, x, y in dataset.splits():
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DigitcliError(f"{origin}: {split} images have shape {x.shape}, expected (N, 28, 28)")
        if x.dtype != np.uint8:
            raise DigitcliError(f"{origin}: {split} images are {x.dtype}, expected uint8")
        if y.shape != (len(x),):
            raise DigitcliError(f"{origin}: {split} has {len(x)} images but labels of shape {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise DigitcliError(f"{origin}: {split} labels outside 0..{n_classes - 1}")

