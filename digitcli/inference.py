"""Fast inference from the ONNX export, without importing Keras.

A few images go through OpenCV's DNN module (already loaded: nothing to import, so one
image takes a fraction of a second end to end); larger batches through onnxruntime,
several times faster per image but slower to import.

The export must match the .h5 byte for byte (SHA-256 recorded at export). A missing or
stale export is rebuilt from the .h5 once (this needs Keras); if that is impossible,
inference falls back to Keras itself, and says so.
"""

import hashlib
import sys
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from digitcli import artifacts
from digitcli.calibration import apply_temperature, is_unknown
from digitcli.errors import DigitcliError
from digitcli.preprocess import to_model_input

BATCH = 1000
ONNXRUNTIME_FROM = 64  # images; below this OpenCV's DNN module answers sooner
CONVERTED_SUFFIXES = (".onnx", ".tflite")  # files `digitcli convert` writes, usable as --weights


def open_classifier(weights, threads=0, **options):
    """A Classifier for NAME.h5, or a ConvertedClassifier for a file `digitcli convert` wrote."""
    if Path(weights).suffix in CONVERTED_SUFFIXES:
        return ConvertedClassifier(weights, threads)
    return Classifier(weights, threads=threads, **options)


class Calibrated:
    """What every classifier shares: MNIST-form images in, calibrated probabilities out;
    `network(x)` (each subclass's) runs the model itself."""

    def predict(self, images):
        """(N, 28, 28) uint8 -> (N, classes) float32 probabilities, calibrated by the model's temperature."""
        return self.predict_tensor(to_model_input(images))

    def unknown(self, calibrated):
        """True for each row of calibrated probabilities that looks like none of the classes
        (all False for models trained without an unknown threshold)."""
        return is_unknown(calibrated, self.meta.get("unknown_below"))

    def predict_tensor(self, x):
        """(N, 28, 28, 1) float32 model input in 0..1 -> calibrated probabilities."""
        return apply_temperature(self.raw_predict(x), self.temperature)

    def raw_predict(self, x):
        """The network's own softmax output for (N, 28, 28, 1) float32 model input."""
        if len(x) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        return self.network(x)


class Classifier(Calibrated):
    """Class probabilities for MNIST-form uint8 images, from weights NAME.h5."""

    def __init__(self, weights, say=lambda line: print(line, file=sys.stderr), rebuild=True, threads=0,
                 opencv_below=ONNXRUNTIME_FROM):
        """`rebuild=False`: a missing or stale export is an error instead (no Keras import).
        `threads`: onnxruntime's intra-op threads (0: its default). Batches smaller than
        `opencv_below` go through OpenCV (sooner for one-shot use; a server sets 0)."""
        self.files = artifacts.ModelFiles(artifacts.Path(weights))
        self.threads, self.opencv_below = threads, opencv_below
        if not self.files.h5.is_file():
            raise DigitcliError(f"weights file not found: {self.files.h5} (train one with `digitcli train`)")
        meta = artifacts.onnx_in_step(self.files)
        if meta is None and not rebuild:
            raise DigitcliError(f"{self.files.onnx} is missing or does not match {self.files.h5}; "
                                f"run `digitcli predict --weights {self.files.h5} ANY_IMAGE` once to rebuild it")
        if meta is None:
            meta = self.rebuild_export(say)
        self.class_names = meta["class_names"]
        self.temperature = meta.get("temperature", 1.0)  # models trained before calibration have none
        self.meta = meta

    platform = "onnxruntime_onnx"

    @property
    def source(self):
        return self.files.h5

    @property
    def watched(self):
        """The files whose change means a new model."""
        return self.files.h5, self.files.onnx, self.files.onnx_meta

    @property
    def version(self):
        return self.meta["h5_sha256"][:12]

    def rebuild_export(self, say):
        say(f"Note: {self.files.onnx} is missing or older than {self.files.h5}; rebuilding it.")
        artifacts.read_h5_meta(self.files.h5)  # a clear error for files that are not ours
        try:
            artifacts.export_onnx(self.files)
        except DigitcliError:
            raise
        except Exception as exc:  # exporters fail in many ways; Keras itself still works
            say(f"Note: ONNX export failed ({exc.__class__.__name__}); using Keras directly (slower).")
            self.keras_model, meta = artifacts.load_keras_model(self.files.h5)
            return meta
        return artifacts.onnx_in_step(self.files)

    def network(self, x):
        """The network's own softmax output for a non-empty float32 batch."""
        if hasattr(self, "keras_model"):
            return np.asarray(self.keras_model.predict(x, verbose=0))
        run = self.opencv_runner if len(x) < self.opencv_below else self.onnxruntime_runner
        parts = [run(x[start:start + BATCH]) for start in range(0, len(x), BATCH)]
        return np.concatenate(parts).reshape(len(x), len(self.class_names))

    @cached_property
    def opencv_runner(self):
        try:
            net = cv2.dnn.readNetFromONNX(str(self.files.onnx))
        except cv2.error:
            return self.onnxruntime_runner  # an operator OpenCV lacks

        def run(batch):
            net.setInput(batch)
            return net.forward()

        return run

    def export_bytes(self):
        """The ONNX export's bytes, checked against the hash recorded for it: the bytes run are
        the bytes checked, never a newer file."""
        if hasattr(self, "keras_model"):
            raise DigitcliError(f"{self.files.h5} has no usable ONNX export")
        export = self.files.onnx.read_bytes()
        if hashlib.sha256(export).hexdigest() != self.meta.get("onnx_sha256"):
            raise DigitcliError(f"{self.files.onnx} changed while loading; try again")
        return export

    @cached_property
    def onnxruntime_runner(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        export = self.export_bytes()
        try:
            session = onnxruntime.InferenceSession(export, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DigitcliError(f"{self.files.onnx}: cannot run this export ({exc})") from exc
        classes = session.get_outputs()[0].shape[-1]
        if classes != len(self.class_names):
            raise DigitcliError(f"{self.files.onnx} answers {classes} classes but {self.files.onnx_meta} "
                                f"names {len(self.class_names)}")
        name = session.get_inputs()[0].name
        return lambda batch: session.run(None, {name: batch})[0]


class ConvertedClassifier(Calibrated):
    """The Classifier interface over a converted file (.onnx, .tflite) in its own runtime,
    with the class names and temperature stored with it."""

    files = None  # no .h5 and no split record beside it

    def __init__(self, path, threads=0):
        from digitcli.convert.runtimes import kind_of, open_runner, read_meta, sidecar_of

        if not Path(path).is_file():
            raise DigitcliError(f"model file not found: {path}")
        self.source, self.version = Path(path), artifacts.sha256(path)[:12]
        self.watched = (self.source, sidecar_of(path))
        self.platform = {"onnx": "onnxruntime_onnx", "litert": "litert_tflite"}[kind_of(path)]
        self.meta = read_meta(path)
        try:
            artifacts.check_meta(self.meta, path)
        except ValueError as exc:
            raise DigitcliError(str(exc)) from exc
        self.class_names, self.temperature = self.meta["class_names"], self.meta.get("temperature", 1.0)
        self.run = open_runner(path, threads)

    def network(self, x):
        return np.concatenate([self.run(x[start:start + BATCH]) for start in range(0, len(x), BATCH)])
