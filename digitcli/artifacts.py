"""The files a trained model lives in, written atomically and kept in step.

For weights `NAME.h5`:
- `NAME.h5`: the full Keras model (no optimizer); its HDF5 attribute `digitcli` holds
  the metadata (class names, model name, best epoch and accuracy, the temperature that
  calibrates its confidences and `unknown_below`, the confidence under which an image looks
  like none of the classes; models from before calibration have neither).
- `NAME.onnx` + `NAME.onnx.json`: the same network for fast inference without Keras; the
  JSON records the class names and the SHA-256 of the .h5 it was made from.
- `NAME.history.json`, `NAME.history.png`: per-epoch metrics and their plot.
- `NAME.resume.keras`: model and optimizer after the last completed epoch, for --resume.
- `NAME.split.json`: the files held out for validation, when train made the split itself.
"""

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from digitcli.errors import DigitcliError

META_ATTR = "digitcli"


@dataclass(frozen=True)
class ModelFiles:
    h5: Path

    @property
    def onnx(self):
        return self.h5.with_suffix(".onnx")

    @property
    def onnx_meta(self):
        return self.h5.with_suffix(".onnx.json")

    @property
    def history(self):
        return self.h5.with_suffix(".history.json")

    @property
    def plot(self):
        return self.h5.with_suffix(".history.png")

    @property
    def split(self):
        return self.h5.with_suffix(".split.json")

    @property
    def resume_state(self):
        return self.h5.with_suffix(".resume.keras")


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` (same suffix); move it into place on success."""
    import tempfile  # here, not at the top: predict only reads, and starts faster without it

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent or ".")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path, obj):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model_h5(model, path, meta):
    """Write the Keras model and `meta` to `path` atomically."""
    import h5py

    with atomic_path(path) as tmp:
        model.save(tmp, include_optimizer=False)
        with h5py.File(tmp, "a") as f:
            f.attrs[META_ATTR] = json.dumps(meta)


def update_h5_meta(path, **changes):
    """Add or change metadata entries of a weights file, atomically; the new file's SHA-256."""
    import shutil

    import h5py

    meta = read_h5_meta(path)
    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs[META_ATTR] = json.dumps({**meta, **changes})
        return sha256(tmp)


def update_meta(files, **changes):
    """Add or change metadata entries of NAME.h5, and of its ONNX export's record when that
    matches the .h5 as it was (the network is the same, so the export stays usable)."""
    paired = onnx_in_step(files)
    h5_sha256 = update_h5_meta(files.h5, **changes)
    if paired is not None:
        write_json(files.onnx_meta, {**paired, **changes, "h5_sha256": h5_sha256})


def read_h5_meta(path):
    """The digitcli metadata stored in a weights file; clear errors when it is not one."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DigitcliError(f"weights file not found: {path} (train one with `digitcli train`)")
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get(META_ATTR)
    except OSError as exc:
        raise DigitcliError(f"{path}: not a readable .h5 weights file ({exc})") from exc
    if raw is None:
        raise DigitcliError(f"{path}: not a digitcli weights file (no class names stored)")
    return json.loads(raw)


def load_keras_model(path):
    """Load the Keras model in `path` (float32) with its metadata."""
    from digitcli.backend import import_keras, quiet_stderr

    meta = read_h5_meta(path)
    keras = import_keras()
    try:
        with quiet_stderr():
            model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py, Keras and backends raise many types here
        raise DigitcliError(f"{path}: cannot load the model ({exc.__class__.__name__}: {exc})") from exc
    return model, meta


def snapshot(path):
    """(temporary copy of `path`, SHA-256 of the copied bytes), from one read, so that what
    is hashed is what is loaded even if `path` is replaced meanwhile. Delete the copy after use."""
    import tempfile

    data = Path(path).read_bytes()
    fd, copy = tempfile.mkstemp(suffix=Path(path).suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Path(copy), hashlib.sha256(data).hexdigest()


def export_onnx(files, model=None):
    """Write NAME.onnx from NAME.h5 and record which .h5 it matches: the hash and the
    network come from one read of the file. `model`: the network already loaded from it
    (train passes the best epoch's; only its metadata may have changed since)."""
    from digitcli.backend import import_keras, quiet_stderr
    from digitcli.models import INPUT_SHAPE, build_model

    copy, h5_sha256 = snapshot(files.h5)
    try:
        model, meta = load_keras_model(copy) if model is None else (model, read_h5_meta(copy))
    finally:
        copy.unlink()
    keras = import_keras()
    if model.dtype_policy.name != "float32":  # ONNX export needs float32 weights
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy("float32")
        fresh = build_model(meta["model"], len(meta["class_names"]))
        keras.config.set_dtype_policy(policy)
        fresh.set_weights(model.get_weights())
        model = fresh
    with atomic_path(files.onnx) as tmp, quiet_stderr():
        spec = keras.InputSpec(shape=(None, *INPUT_SHAPE), dtype="float32")
        model.export(str(tmp), format="onnx", verbose=False, input_signature=[spec])
    write_json(files.onnx_meta, {"h5_sha256": h5_sha256, "onnx_sha256": sha256(files.onnx), **meta})
    return files.onnx


def onnx_in_step(files):
    """The ONNX metadata if NAME.onnx exists, matches the current NAME.h5 and its metadata
    is usable (`check_meta`), else None."""
    try:
        meta = json.loads(files.onnx_meta.read_text())
        if (isinstance(meta, dict) and meta.get("h5_sha256") == sha256(files.h5)
                and meta.get("onnx_sha256") == sha256(files.onnx)):
            check_meta(meta, files.onnx_meta)
            return meta
    except (OSError, ValueError):
        pass
    return None


def check_meta(meta, where):
    """ValueError unless `meta` has distinct class names (strings) and, if any, a positive finite
    temperature and an unknown threshold from 0 to 1."""
    names = meta.get("class_names")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)
            and len(set(names)) == len(names)):
        raise ValueError(f"{where}: class_names must be a list of distinct strings")
    temperature = meta.get("temperature", 1.0)
    if type(temperature) not in (int, float) or not 0 < temperature < float("inf"):
        raise ValueError(f"{where}: temperature must be a positive number, not {temperature!r}")
    threshold = meta.get("unknown_below")
    if threshold is not None and (type(threshold) not in (int, float) or not 0 <= threshold <= 1):
        raise ValueError(f"{where}: unknown_below must be a number from 0 to 1, not {threshold!r}")
