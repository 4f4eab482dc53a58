"""What the network did with one image: everything `digitcli explain` draws and writes."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitcli.calibration import calibrated_from_logits
from digitcli.errors import DigitcliError
from digitcli.explain import saliency
from digitcli.explain.network import Network
from digitcli.predict import like_none
from digitcli.preprocess import to_model_input


@dataclass
class Explanation:
    path: str
    given: np.ndarray  # the image as read, gray 0..1 (reduced when large), for showing
    seen: np.ndarray  # (28, 28) uint8: what the model saw
    class_names: list
    probabilities: np.ndarray  # calibrated, (classes,)
    unknown: bool
    layers: list  # the Network's Layer list
    activations: dict  # {layer name: this image's output}
    gradients: np.ndarray  # (classes, 28, 28) d logit / d pixel
    cam: np.ndarray  # (28, 28) HiResCAM of the answer, or None (no convolutions)
    first_weights: np.ndarray  # the Network's first-layer filters or templates, or None
    first_kind: str  # "filters", "templates" or None

    @property
    def answer(self):
        return int(self.probabilities.argmax())

    @property
    def runner_up(self):
        return int(np.argsort(-self.probabilities, kind="stable")[1])

    def verdict(self):
        """"7 (99.9%), runner-up 3 (0.1%)", or "does not look like a digit (closest: 4, 31.2%), ..."."""
        names, p = self.class_names, self.probabilities
        a, b = self.answer, self.runner_up
        head = like_none(names, names[a], p[a]) if self.unknown else f"{names[a]} ({100 * p[a]:.1f}%)"
        return f"{head}, runner-up {names[b]} ({100 * p[b]:.1f}%)"

    def toward(self, other):
        """d (logit `other` - logit of the answer) / d pixel: where added ink would make it more an `other`."""
        return self.gradients[other] - self.gradients[self.answer]

    def as_json(self):
        """The numbers: probabilities, per-layer activation statistics, the saliency maps."""
        names = self.class_names
        return {
            "path": self.path, "class": names[self.answer], "confidence": float(self.probabilities[self.answer]),
            "unknown": self.unknown, "probabilities": dict(zip(names, self.probabilities.round(6).tolist())),
            "runner_up": names[self.runner_up],
            "layers": [{"name": layer.name, "kind": layer.kind, "about": layer.about,
                        **activation_stats(layer.kind, self.activations[layer.name])} for layer in self.layers],
            "saliency": {
                "input_gradient": {names[self.answer]: rounded(self.gradients[self.answer]),
                                   names[self.runner_up]: rounded(self.gradients[self.runner_up])},
                "toward_runner_up": rounded(self.toward(self.runner_up)),
                "hires_cam": None if self.cam is None else rounded(self.cam),
            },
            "seen": self.seen.tolist(),
        }


def activation_stats(kind, out):
    """Per channel (conv) or over units (dense, LSTM): mean, max and the share that is active."""
    if kind == "conv":
        flat = out.reshape(len(out), -1)
        return {"shape": list(out.shape), "mean": rounded(flat.mean(1)), "max": rounded(flat.max(1)),
                "active_share": rounded((flat > 0).mean(1))}
    return {"shape": list(out.shape), "mean": round(float(out.mean()), 6), "max": round(float(out.max()), 6),
            "active_share": round(float((out > 0).mean()), 6)}


def rounded(array):
    return np.round(np.asarray(array, np.float64), 6).tolist()


def open_network(classifier):
    """The Network behind a classifier from `inference.open_classifier`: its ONNX export."""
    onnx_bytes = getattr(classifier, "export_bytes", None)
    if onnx_bytes is not None:
        return Network(onnx_bytes())
    if Path(classifier.source).suffix == ".onnx":
        return Network(Path(classifier.source).read_bytes())
    raise DigitcliError(f"{classifier.source}: look inside needs an ONNX model (the .h5's export or a .onnx)")


def explain_image(network, classifier, image, given=None, path=""):
    """An Explanation of one MNIST-form (28, 28) uint8 image."""
    x = to_model_input(image[None])
    logits, activations = network.run(x)
    probabilities = calibrated_from_logits(logits, classifier.temperature)
    gradients = saliency.input_gradients(network, x[0])
    answer = int(probabilities[0].argmax())
    cam = None
    if network.last_conv is not None:
        cam = saliency.class_activation_map(network, activations[network.last_conv.name][0], answer)
    given = image / 255.0 if given is None else given
    return Explanation(path, given, image, classifier.class_names, probabilities[0],
                       bool(classifier.unknown(probabilities)[0]), network.layers,
                       {name: out[0] for name, out in activations.items()}, gradients, cam,
                       network.first_weights, network.first_kind)
