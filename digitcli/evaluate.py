"""Score a model on a class-per-folder tree: accuracy, per-class table, confusion matrix."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitcli import splits
from digitcli.artifacts import write_json
from digitcli.calibration import BINS, expected_calibration_error
from digitcli.folders import describe_skipped, list_labelled, load_listed
from digitcli.inference import open_classifier

WORST_SHOWN = 32


@dataclass
class Evaluation:
    class_names: list
    y_true: np.ndarray
    probabilities: np.ndarray
    images: np.ndarray
    paths: list
    skipped: list
    source: str = ""  # which images were scored, in words
    temperature: float = 1.0  # the model's calibration (1.0: none stored)
    unknown: np.ndarray = None  # per image: looks like none of the classes
    unknown_below: float = None  # the model's threshold (None: trained without one)
    looked: np.ndarray = None  # per worst mistake: where the model looked for its answer (0..1, 28x28)

    @property
    def y_pred(self):
        return self.probabilities.argmax(1)

    @property
    def accuracy(self):
        return float((self.y_pred == self.y_true).mean())

    @property
    def ece(self):
        """Expected calibration error over 15 equal-width confidence bins (0..1)."""
        return expected_calibration_error(self.probabilities, self.y_true, BINS)

    @property
    def mean_confidence(self):
        return float(self.probabilities.max(1).mean())

    @property
    def confusion(self):
        """Rows: true class; columns: predicted class."""
        n = len(self.class_names)
        return np.bincount(self.y_true * n + self.y_pred, minlength=n * n).reshape(n, n)

    def per_class(self):
        """{class: {precision, recall, f1, support}}."""
        m = self.confusion
        hits, predicted, support = np.diag(m), m.sum(0), m.sum(1)
        precision = np.divide(hits, predicted, out=np.zeros(len(hits)), where=predicted > 0)
        recall = np.divide(hits, support, out=np.zeros(len(hits)), where=support > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(hits)),
                       where=precision + recall > 0)
        return {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                       "support": int(support[i])} for i, name in enumerate(self.class_names)}

    def worst_mistakes(self, limit=WORST_SHOWN):
        """Indices of wrong predictions, most confident first."""
        wrong = np.nonzero(self.y_pred != self.y_true)[0]
        confidence = self.probabilities[wrong, self.y_pred[wrong]]
        return wrong[np.argsort(-confidence, kind="stable")][:limit]


def evaluate_folder(data_dir, weights, progress=None, say=None):
    """Run the model in `weights` over DATA_DIR/<class>/* (classes must match the model's)."""
    classifier = open_classifier(weights) if say is None else open_classifier(weights, say=say)
    root, names, paths, labels, source = scored_files(data_dir, classifier.class_names, classifier.files)
    data = load_listed(names, paths, labels, progress, origin=root)
    probabilities = classifier.predict(data.x)
    ev = Evaluation(data.class_names, data.y, probabilities, data.x, data.paths, data.skipped,
                    source, classifier.temperature, classifier.unknown(probabilities),
                    classifier.meta.get("unknown_below"))
    ev.looked = where_mistakes_looked(ev, classifier)
    return ev


def where_mistakes_looked(ev, classifier):
    """For each of the worst mistakes, where the model found the evidence for its wrong answer
    (`explain.saliency.where_it_looked`); None when the model has no ONNX graph to look inside."""
    from digitcli.explain.explanation import open_network
    from digitcli.explain.saliency import where_it_looked
    from digitcli.errors import DigitcliError
    from digitcli.preprocess import to_model_input

    worst = ev.worst_mistakes()
    try:
        network = open_network(classifier)
    except DigitcliError:
        return None
    x = to_model_input(ev.images[worst])
    return np.array([where_it_looked(network, image, int(c)) for image, c in zip(x, ev.y_pred[worst])]).reshape(-1, 28, 28)


def scored_files(data_dir, class_names, files):
    """(root, class names, paths, labels, description) of the images to score: DIR/validation
    when there is one; else DIR's class folders, only the held-out files where train split DIR."""
    layout = splits.find_layout(data_dir)
    root = layout.validation or layout.train
    names, paths, labels = list_labelled(root, class_names)
    record = None if layout.validation or files is None else splits.read_record(files)
    mask = splits.recorded_mask(record, root, paths, files.split if files else None)
    if mask is None:
        return root, names, paths, labels, f"{len(paths)} images under {root}"
    paths = [p for p, m in zip(paths, mask) if m]
    return root, names, paths, labels[mask], (f"the {len(paths)} images of {root} held out for validation "
                                              f"when the model was trained ({files.split})")


def as_text(ev):
    """Accuracy, per-class table and confusion matrix, as printed."""
    names = ev.class_names
    w = max(8, *(len(n) for n in names))
    lines = [f"Scored: {ev.source}"] if ev.source else []
    lines.append(f"Accuracy: {100 * ev.accuracy:.2f}% ({int((ev.y_pred == ev.y_true).sum())} of {len(ev.y_true)})")
    calibrated = f"temperature {ev.temperature:.3f}" if ev.temperature != 1.0 else "model has no temperature"
    lines.append(f"Mean confidence: {100 * ev.mean_confidence:.2f}%; expected calibration error "
                 f"{100 * ev.ece:.2f} points ({BINS} bins; {calibrated})")
    lines.append(unknown_line(ev))
    if ev.skipped:
        lines.append(describe_skipped(ev.skipped))
    lines += ["", f"{'class':>{w}}  precision  recall     f1  support"]
    for name, row in ev.per_class().items():
        lines.append(f"{name:>{w}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:.4f}  {row['support']:7d}")
    m = ev.confusion
    cell = max(5, len(str(m.max())) + 1, *(len(n) + 1 for n in names))
    lines += ["", "Confusion matrix (rows: true class, columns: predicted)",
              f"{'':>{w}}" + "".join(f"{n:>{cell}}" for n in names)]
    lines += [f"{names[i]:>{w}}" + "".join(f"{v:>{cell}}" for v in m[i]) for i in range(len(names))]
    return "\n".join(lines)


def unknown_line(ev):
    """How many images the model flagged as looking like none of its classes."""
    if ev.unknown_below is None:
        return "Unknown: this model has no threshold for images of none of its classes (retrain to get one)"
    flagged = int(ev.unknown.sum())
    wrong = int((ev.unknown & (ev.y_pred != ev.y_true)).sum())
    return (f"Unknown: {flagged} of {len(ev.y_true)} ({100 * flagged / max(1, len(ev.y_true)):.2f}%) look like none "
            f"of the classes (confidence below {100 * ev.unknown_below:.1f}%); {wrong} of them misclassified")


def write_reports(ev, report_dir):
    """confusion_matrix.png, misclassified.png, calibration.png and report.json under `report_dir`."""
    from digitcli.plots import plot_calibration, plot_confusion, plot_mistakes

    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    worst = ev.worst_mistakes()
    names = ev.class_names
    plot_confusion(ev.confusion, names, report_dir / "confusion_matrix.png")
    plot_mistakes(ev.images[worst], [names[i] for i in ev.y_true[worst]], [names[i] for i in ev.y_pred[worst]],
                  ev.probabilities[worst, ev.y_pred[worst]], report_dir / "misclassified.png", heat=ev.looked)
    plot_calibration(ev.probabilities, ev.y_true, ev.temperature, report_dir / "calibration.png")
    report = {
        "scored": ev.source, "accuracy": ev.accuracy, "count": int(len(ev.y_true)), "class_names": names,
        "ece": ev.ece, "mean_confidence": ev.mean_confidence, "temperature": ev.temperature,
        "per_class": ev.per_class(), "confusion_matrix": ev.confusion.tolist(),
        "worst_mistakes": [{"path": str(ev.paths[i]), "true": names[ev.y_true[i]], "predicted": names[ev.y_pred[i]],
                            "confidence": float(ev.probabilities[i, ev.y_pred[i]])} for i in worst],
        "skipped": [{"path": str(p), "error": why} for p, why in ev.skipped],
        "unknown_below": ev.unknown_below, "unknown_count": int(ev.unknown.sum()),
        "unknown": [str(ev.paths[i]) for i in np.flatnonzero(ev.unknown)],
    }
    write_json(report_dir / "report.json", report)
    return [report_dir / n for n in ("confusion_matrix.png", "misclassified.png", "calibration.png", "report.json")]

