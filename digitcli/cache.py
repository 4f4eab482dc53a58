"""Generated images kept between runs.

What `outliers.make_outliers` and `outliers.printed_digits` make for given arguments is
always the same, and takes seconds (4.4 s for the outliers of 60,000 MNIST images, 0.8 s for
their printed digits, 1.3 s for the held-out ones), so `train` keeps it in the cache folder:
$DIGITCLI_CACHE, else $XDG_CACHE_HOME/digitcli, else ~/.cache/digitcli. A kept result is keyed
by the arguments and by everything that makes it (the source of the modules that draw and
preprocess, OpenCV's and NumPy's versions); anything unreadable is made again.
"""

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MAKERS = ("outliers.py", "preprocess.py")  # the modules whose code decides what is generated


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
    key = hashlib.sha256(json.dumps([function.__module__, function.__qualname__, args, code_digest()]).encode())
    path = folder() / f"{function.__name__}-{key.hexdigest()[:24]}.npz"
    try:
        with np.load(path) as stored:
            arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
        return arrays[0] if len(arrays) == 1 else tuple(arrays)
    except (OSError, ValueError, KeyError):
        pass
    value = function(*args)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, *(value if isinstance(value, tuple) else (value,)))
        os.replace(tmp, path)
    except OSError:  # a read-only home, a full disk: nothing kept, nothing lost
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    return value
