"""`digitcli convert`: write each requested copy under a temporary name, run it through its
own runtime on the validation images beside the Keras model, and give it its final name
only when it answers within its format's tolerance."""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitcli import artifacts, splits
from digitcli.convert import checks, writers
from digitcli.convert.web import write_web
from digitcli.convert.runtimes import open_runner, sidecar_of
from digitcli.errors import DigitcliError
from digitcli.folders import list_labelled, load_listed
from digitcli.preprocess import to_model_input

FORMATS = {  # name: (suffix, writer, quantizations it offers)
    "onnx": (".onnx", writers.write_onnx, ("fp32", "fp16", "int8")),
    "litert": (".tflite", writers.write_litert, ("fp32", "fp16", "int8")),
    "saved-model": (".savedmodel", writers.write_saved_model, ("fp32",)),
    "web": (".web", write_web, ("fp32", "fp16", "int8")),
}
CALIBRATION_IMAGES = 500  # training images that calibrate int8 copies


@dataclass(frozen=True)
class Target:
    format: str
    quantize: str

    def file_name(self, stem):
        suffix = FORMATS[self.format][0]
        return f"{stem}{'' if self.quantize == 'fp32' else '.' + self.quantize}{suffix}"


def targets(formats, quantizations):
    """The (format, quantization) pairs asked for; one-line errors for unknown or impossible ones."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise DigitcliError(f"unknown format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    bad = [q for q in quantizations if q not in ("fp32", "fp16", "int8")]
    if bad:
        raise DigitcliError(f"unknown quantization {bad[0]!r}; choose from none (fp32), fp16, int8")
    chosen = [Target(f, q) for f in formats for q in quantizations if q in FORMATS[f][2]]
    for f in formats:
        if not any(t.format == f for t in chosen):
            raise DigitcliError(f"{f} is written in fp32 only (drop --quantize or add none)")
    return chosen


def convert(weights, formats, quantizations, data_dir="data", out=None, force=False, say=print):
    """Write and check every target; the list of Checks (refused ones carry their failure)."""
    chosen = targets(formats, quantizations)
    files = artifacts.ModelFiles(Path(weights))
    out = Path(out) if out else files.h5.with_suffix(".converted")
    if out.exists() and not force:
        raise DigitcliError(f"{out} exists; pass --force to replace the files convert writes there, or --out")
    model, meta, h5_sha256 = load_model(files)
    x_val, y_val, x_calibration = check_images(data_dir, meta["class_names"], files)
    say(f"Checking every copy on {len(y_val)} validation images; int8 calibrated on {len(x_calibration)} "
        f"training images")
    original = np.asarray(model.predict(x_val, batch_size=1000, verbose=0), np.float32)
    file_meta = {"class_names": meta["class_names"], "temperature": meta.get("temperature", 1.0),
                 "unknown_below": meta.get("unknown_below"), "model": meta.get("model"), "h5_sha256": h5_sha256,
                 "best_epoch": meta.get("best_epoch"), "val_accuracy": meta.get("val_accuracy"),
                 "input": "images: float32 [N, 28, 28, 1], MNIST form (0..1, light ink on black)",
                 "output": "probabilities: float32 [N, classes], softmax; calibrated: softmax(log(p) / temperature); "
                           "unknown (none of the classes) when the calibrated maximum is below unknown_below"}
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for target in chosen:
            name = target.file_name(files.h5.stem)
            say(f"Writing and checking {out / name} ...")
            results.append(write_checked(model, target, out / name, {**file_meta, "name": Path(name).stem,
                                         "format": target.format, "quantize": target.quantize},
                                         x_calibration, x_val, y_val, original))
    except BaseException:
        if created and not any(out.iterdir()):  # a folder this run made and could fill with nothing
            out.rmdir()
        raise
    artifacts.write_json(out / "checks.json", [c.as_json() for c in results])
    return results


def write_checked(model, target, path, meta, calibration, x, y, original):
    """Write `target` under a temporary name, check it, and keep it under `path` only if it passes."""
    writer = FORMATS[target.format][1]
    partial = path.with_name(f".{path.name}.partial{path.suffix}")
    writers.remove(partial)
    try:
        try:
            writer(model, partial, meta, target.quantize, calibration)
        except DigitcliError:
            raise
        except Exception as exc:  # converters fail in many ways
            raise DigitcliError(f"cannot write {path.name}: {exc.__class__.__name__}: {str(exc)[:300]}") from exc
        run = open_runner(partial)
        measured = checks.measure(run, x, y, original)
        check = checks.Check(path.name, target.format, target.quantize, *measured[:4], size_of(partial), *measured[4:])
        check.failure = checks.failure(check, checks.TOLERANCES[target.quantize])
        if check.failure is None:
            writers.remove(path)
            os.replace(partial, path)
            artifacts.write_json(sidecar_of(path), meta)
        return check
    finally:
        writers.remove(partial)


def load_model(files):
    """(Keras model, metadata, SHA-256 of the .h5), the model and the hash from one read of
    the file (as `artifacts.export_onnx`); one line when TensorFlow or the file is missing."""
    artifacts.read_h5_meta(files.h5)  # one-line errors that name the user's file, not the copy
    copy, h5_sha256 = artifacts.snapshot(files.h5)
    try:
        return (*artifacts.load_keras_model(copy), h5_sha256)
    except ImportError as exc:
        raise DigitcliError(f"convert needs TensorFlow (Keras's exporters): {exc}") from exc
    finally:
        copy.unlink()


def check_images(data_dir, class_names, files):
    """(validation x, y, calibration x): the images `evaluate` scores, and a seeded sample of
    training images (never validation ones) for int8 calibration, as model input."""
    from digitcli.evaluate import scored_files

    root, names, paths, labels, _ = scored_files(data_dir, class_names, files)
    validation = load_listed(names, paths, labels, origin=root)
    layout = splits.find_layout(data_dir)
    names, train_paths, train_labels = list_labelled(layout.train, class_names)
    held_out = set(paths)
    pool = [i for i, p in enumerate(train_paths) if p not in held_out]
    pick = np.random.default_rng(0).permutation(pool)[:CALIBRATION_IMAGES]
    training = load_listed(names, [train_paths[i] for i in pick], train_labels[pick], origin=layout.train)
    return to_model_input(validation.x), validation.y, to_model_input(training.x)


def size_of(path):
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size
