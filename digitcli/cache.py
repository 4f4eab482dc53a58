"""Generated and decoded images kept between runs.

What `outliers.make_outliers` and `outliers.printed_digits` make for given arguments is
always the same, and takes seconds (3.0 s for the outliers of 60,000 MNIST images, 0.4 s for
their printed digits, 1.0 s for the held-out ones); so is a large folder's images in MNIST
form while none of its files changes (2.4 s for MNIST's 70,000 PNGs, on the cores TensorFlow's
import needs). `train`, `evaluate` and `convert` keep them in the cache folder: $DIGITCLI_CACHE,
else $XDG_CACHE_HOME/digitcli, else ~/.cache/digitcli. A kept result is keyed by the
arguments (for a folder: each file's path, size and modification time) and by everything that
makes it (the source of the modules that read, draw and preprocess, OpenCV's and NumPy's
versions); anything unreadable is made again. The folder is kept under LIMIT_BYTES, the
least recently used results going first.
"""

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MAKERS = ("outliers.py", "preprocess.py", "images.py", "folders.py")  # the modules whose code decides what is kept
LIMIT_BYTES = 2 * 2**30


def folder():
    if os.environ.get("DIGITCLI_CACHE"):
        return Path(os.environ["DIGITCLI_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "digitcli"


@lru_cache(maxsize=None)
def code_digest():
    digest = hashlib.sha256(f"{cv2.__version__} {np.__version__}".encode())
    for name in MAKERS:
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()


def kept(function, *args):
    """`function(*args)` (arrays, or a tuple of arrays), from the cache folder when it was made before."""
    path = entry(function.__name__, [function.__module__, function.__qualname__, args])
    arrays = stored(path)
    if arrays is None:
        value = function(*args)
        store(path, value if isinstance(value, tuple) else (value,))
        return value
    return arrays[0] if len(arrays) == 1 else tuple(arrays)


def kept_reads(read, paths, progress=None):
    """`read(paths, progress)`, which is (images, {index: why unusable}), from the cache folder
    when the same files (path, size, modification time) were read before."""
    try:
        stamps = [(os.path.abspath(p), s.st_size, s.st_mtime_ns) for p in paths for s in [os.stat(p)]]
    except OSError:  # a file gone since it was listed: read says which
        return read(paths, progress)
    path = entry("images", stamps)
    arrays = stored(path)
    if arrays is None:
        images, failures = read(paths, progress)
        store(path, (images, np.array(list(failures), np.int64), np.array(list(failures.values()), str)))
        return images, failures
    images, where, why = arrays
    if progress:
        progress(len(paths))
    return images, dict(zip(where.tolist(), why.tolist()))


def entry(name, key):
    """The file of a kept result: `name` and a digest of `key` (JSON) and of the code."""
    digest = hashlib.sha256(json.dumps([key, code_digest()]).encode()).hexdigest()
    return folder() / f"{name}-{digest[:24]}.npz"


def stored(path):
    """The arrays kept in `path`, or None; a read marks it as recently used."""
    try:
        with np.load(path) as kept_file:
            arrays = [kept_file[f"arr_{i}"] for i in range(len(kept_file.files))]
        os.utime(path)
        return arrays
    except (OSError, ValueError, KeyError):
        return None


def store(path, arrays):
    """Write `arrays` to `path` atomically, then keep the folder under LIMIT_BYTES; failing
    quietly (a read-only home, a full disk: nothing kept, nothing lost)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, *arrays)
        os.replace(tmp, path)
        prune(path.parent)
    except OSError:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def prune(where):
    """Delete the least recently used results until the folder holds at most LIMIT_BYTES."""
    files = sorted(where.glob("*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
    total = 0
    for f in files:
        total += f.stat().st_size
        if total > LIMIT_BYTES:
            f.unlink(missing_ok=True)
