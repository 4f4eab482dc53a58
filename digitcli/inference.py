"""Fast inference from the ONNX export, without importing Keras.

A few images go through OpenCV's DNN module (already loaded: nothing to import, so one
image takes a fraction of a second end to end); larger batches through onnxruntime,
several times faster per image but slower to import.

The export must match the .h5 byte for byte (SHA-256 recorded at export). A missing or
stale export is rebuilt from the .h5 once (this needs Keras); if that is impossible,
inference falls back to Keras itself, and says so.
"""

import sys

import cv2
import numpy as np

from digitcli import artifacts
from digitcli.calibration import apply_temperature
from digitcli.errors import DigitcliError
from digitcli.preprocess import to_model_input

BATCH = 1000
ONNXRUNTIME_FROM = 64  # images; below this OpenCV's DNN module answers sooner


class Classifier:
    """Class probabilities for MNIST-form uint8 images, from weights NAME.h5."""

    def __init__(self, weights, say=lambda line: print(line, file=sys.stderr)):
        self.files = artifacts.ModelFiles(artifacts.Path(weights))
        if not self.files.h5.is_file():
            raise DigitcliError(f"weights file not found: {self.files.h5} (train one with `digitcli train`)")
        meta = artifacts.onnx_in_step(self.files)
        if meta is None:
            meta = self.rebuild_export(say)
        self.class_names = meta["class_names"]
        self.temperature = meta.get("temperature", 1.0)  # models trained before calibration have none
        self.meta = meta

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

    def predict(self, images):
        """(N, 28, 28) uint8 -> (N, classes) float32 probabilities, calibrated by the model's temperature."""
        return apply_temperature(self.raw_predict(images), self.temperature)

    def raw_predict(self, images):
        """The network's own softmax output."""
        if len(images) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        if hasattr(self, "keras_model"):
            return np.asarray(self.keras_model.predict(to_model_input(images), verbose=0))
        run = self.opencv_runner() if len(images) < ONNXRUNTIME_FROM else self.onnxruntime_runner()
        parts = [run(to_model_input(images[start:start + BATCH])) for start in range(0, len(images), BATCH)]
        return np.concatenate(parts).reshape(len(images), len(self.class_names))

    def opencv_runner(self):
        try:
            net = cv2.dnn.readNetFromONNX(str(self.files.onnx))
        except cv2.error:
            return self.onnxruntime_runner()  # an operator OpenCV lacks

        def run(batch):
            net.setInput(batch)
            return net.forward()

        return run

    def onnxruntime_runner(self):
        import onnxruntime

        try:
            session = onnxruntime.InferenceSession(str(self.files.onnx), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DigitcliError(f"{self.files.onnx}: cannot run this export ({exc})") from exc
        name = session.get_inputs()[0].name
        return lambda batch: session.run(None, {name: batch})[0]
