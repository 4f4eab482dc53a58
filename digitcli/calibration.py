"""Confidences that mean what they say: temperature scaling and calibration error.

An image whose calibrated confidence is below `unknown_below` (fitted here too) looks like
none of the classes: training shows the model generated outliers with uniform targets
(outlier exposure, Hendrycks et al., 2019), so for those its confidence stays low.

Temperature scaling (Guo et al., 2017) divides the logits by one scalar T fitted on the
validation set; it changes no prediction, only how sure the probabilities are. Every model
here ends in a softmax, so log-probabilities serve as logits (they differ by a constant
per image, which the softmax ignores).
"""

import importlib
import threading

import numpy as np

BINS = 15
TINY = 1e-30  # float32 softmax outputs can underflow to 0; log needs a floor
FLAGGED_CLASS_IMAGES = 0.005  # the share of validation images the unknown threshold may flag


def softmax(logits):
    """Row by row, shifted by each row's maximum so that exp cannot overflow."""
    scaled = np.exp(logits - logits.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True)


def apply_temperature(probabilities, temperature):
    """Softmax(log p / T), row by row: the same ranking, other confidences."""
    if temperature == 1.0:
        return probabilities
    return softmax(np.log(np.maximum(probabilities, TINY)) / temperature).astype(np.float32)


def calibrated_from_logits(logits, temperature):
    """What `apply_temperature` gives for the network's own softmax of `logits`."""
    return apply_temperature(softmax(logits), temperature)


def nll(probabilities, labels, temperature):
    """Mean negative log-likelihood of `labels` under the tempered probabilities."""
    logits = np.log(np.maximum(probabilities.astype(np.float64), TINY)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits).sum(axis=1))
    return float((log_norm - logits[np.arange(len(labels)), labels]).mean())


def load_fitter_in_background():
    """Start importing `fit_temperature`'s SciPy optimizer (0.3 s) in a daemon thread, so that
    a training that calls it at its end finds it loaded."""
    threading.Thread(target=importlib.import_module, args=("scipy.optimize",), daemon=True).start()


def fit_temperature(probabilities, labels):
    """The T in [0.05, 20] that minimises the validation NLL (a 1-D convex problem in log T)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda log_t: nll(probabilities, labels, np.exp(log_t)),
                            bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def reliability(probabilities, labels, bins=BINS):
    """Per equal-width confidence bin: (mean confidence, accuracy, count); empty bins give NaN."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, bins) / counts
        accuracy = np.bincount(index, correct, bins) / counts
    return mean_confidence, accuracy, counts


def expected_calibration_error(probabilities, labels, bins=BINS):
    """ECE: the count-weighted mean gap between confidence and accuracy over the bins (0..1)."""
    mean_confidence, accuracy, counts = reliability(probabilities, labels, bins)
    used = counts > 0
    return float((counts[used] * np.abs(accuracy[used] - mean_confidence[used])).sum() / max(1, counts.sum()))


def fit_unknown_threshold(calibrated, share=FLAGGED_CLASS_IMAGES):
    """The confidence below which an image is "unknown": the `share` quantile of the
    validation images' calibrated confidences (so that share of real class images is flagged)."""
    return float(np.quantile(calibrated.max(axis=1), share))


def is_unknown(calibrated, threshold):
    """True for each row whose confidence is below `threshold` (None: the model has none)."""
    if threshold is None:
        return np.zeros(len(calibrated), bool)
    return calibrated.max(axis=1) < threshold
