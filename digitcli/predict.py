"""Predict the class of image files and folders of images, and say which look like none of
the classes."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitcli.folders import load_images
from digitcli.images import find_images
from digitcli.inference import open_classifier
from digitcli.outliers import is_digits


@dataclass
class Prediction:
    path: str
    class_name: str = None
    confidence: float = None
    top_k: list = field(default_factory=list)  # [(class, probability), ...] the best first, when K > 1 was asked
    error: str = None
    unknown: bool = False  # looks like none of the classes; class_name is then the closest one

    def as_json(self, name_key="path"):
        """The schema `predict --json` prints and `serve` answers (which names the file "filename")."""
        if self.error:
            return {name_key: self.path, "error": self.error}
        out = {name_key: self.path, "class": self.class_name, "confidence": round(self.confidence, 6),
               "unknown": self.unknown}
        if self.top_k:
            out["top_k"] = [[name, round(p, 6)] for name, p in self.top_k]
        return out


def expand_paths(paths):
    """In the order given: image files (str paths), images found under folders, and for
    paths that yield nothing, a Prediction carrying the error."""
    items = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            items += find_images(path) or [Prediction(str(raw), error="folder holds no images")]
        elif path.exists():
            items.append(str(raw))
        else:
            items.append(Prediction(str(raw), error="file not found"))
    return items


def predict_paths(paths, weights, top_k=1, progress=None):
    """A Prediction per image under `paths` (errors included), in the order given."""
    return predict_items(expand_paths(paths), open_classifier(weights), top_k, progress)


def predict_items(items, classifier, top_k=1, progress=None):
    """Predict the path items of `expand_paths`, keeping its errors in place."""
    files = [item for item in items if not isinstance(item, Prediction)]
    predictions = iter(predict_files(files, classifier, top_k, progress))
    return [item if isinstance(item, Prediction) else next(predictions) for item in items]


def predict_files(files, classifier, top_k=1, progress=None):
    """A Prediction per image file, in order; unreadable files get an error."""
    images, failures = load_images(files, progress)
    ok = np.array([i not in failures for i in range(len(files))], bool)
    read = [path for i, path in enumerate(files) if i not in failures]
    probabilities = classifier.predict(images[ok])
    found = iter(ranked(probabilities, classifier.class_names, read, top_k, classifier.unknown(probabilities)))
    return [Prediction(path, error=failures[i]) if i in failures else next(found) for i, path in enumerate(files)]


def ranked(probabilities, class_names, paths, top_k=1, unknown=None):
    """A Prediction per row of `probabilities` (one per path), with its `top_k` best classes
    and its `unknown` flag."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :max(1, top_k)]
    top_p = np.take_along_axis(probabilities, order, axis=1).tolist()
    results = []
    unknown = np.zeros(len(paths), bool) if unknown is None else unknown
    for path, row, p, flag in zip(paths, order.tolist(), top_p, unknown.tolist()):
        classes = [class_names[j] for j in row]
        results.append(Prediction(path, classes[0], p[0], list(zip(classes, p)) if top_k > 1 else [], unknown=flag))
    return results


def describe(prediction, class_names):
    """The sentence `predict` prints for one image."""
    p = prediction
    if p.unknown:
        return f"This {like_none(class_names, p.class_name, p.confidence)}."
    return (f"I think this digit is a {p.class_name} with {100 * p.confidence:.1f}% confidence."
            + "".join(f" Next: {name} ({100 * q:.1f}%)." for name, q in p.top_k[1:]))


def like_none(class_names, closest, confidence):
    """'does not look like a digit (closest: 4, 31.2%)': what is said of an image flagged unknown."""
    kind = "a digit" if is_digits(class_names) else "any of the classes"
    return f"does not look like {kind} (closest: {closest}, {100 * confidence:.1f}%)"
