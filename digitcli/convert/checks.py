"""A converted copy against the Keras model it came from, on the same validation images."""

import time
from dataclasses import asdict, dataclass

import numpy as np

LATENCY_RUNS = 30
BATCH = 256


@dataclass(frozen=True)
class Tolerance:
    agreement: float  # least share of top-1 answers equal to the original's
    max_difference: float = None  # largest allowed probability difference, if any
    accuracy_drop: float = None  # largest allowed accuracy loss (0..1), if any


TOLERANCES = {"fp32": Tolerance(1.0, max_difference=1e-4), "fp16": Tolerance(0.9995),
              "int8": Tolerance(0.998, accuracy_drop=0.001)}


@dataclass
class Check:
    file: str
    format: str
    quantize: str
    agreement: float  # share of validation images with the original's top-1 answer
    accuracy: float
    original_accuracy: float
    max_difference: float  # largest |p - p_original| over all images and classes
    size_bytes: int
    latency_ms: float  # one image, median of LATENCY_RUNS
    images_per_second: float  # batches of BATCH
    failure: str = None  # why the copy was refused; None when it passed

    def as_json(self):
        return asdict(self)


def measure(run, x, y, original):
    """(agreement, accuracy, original accuracy, max difference, latency ms, images/s) of `run` on x."""
    probabilities = np.concatenate([run(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])
    answers, wanted = probabilities.argmax(1), original.argmax(1)
    single = x[:1]
    run(single)
    times = []
    for _ in range(LATENCY_RUNS):
        start = time.perf_counter()
        run(single)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(x), BATCH):
        run(x[i:i + BATCH])
    rate = len(x) / (time.perf_counter() - start)
    return (float((answers == wanted).mean()), float((answers == y).mean()), float((wanted == y).mean()),
            float(np.abs(probabilities - original).max()), 1000 * float(np.median(times)), rate)


def failure(check, tolerance):
    """Why `check` falls outside `tolerance`, in one phrase; None when within."""
    if check.agreement < tolerance.agreement:
        return (f"agrees with the original on {100 * check.agreement:.2f}% of the validation images "
                f"(needs {100 * tolerance.agreement:.2f}%)")
    if tolerance.max_difference is not None and check.max_difference > tolerance.max_difference:
        return f"probabilities differ by up to {check.max_difference:.2g} (allowed {tolerance.max_difference:g})"
    if tolerance.accuracy_drop is not None and check.original_accuracy - check.accuracy > tolerance.accuracy_drop:
        return (f"accuracy {100 * check.accuracy:.2f}% is {100 * (check.original_accuracy - check.accuracy):.2f} points "
                f"below the original's (allowed {100 * tolerance.accuracy_drop:.1f})")
    return None


def as_table(checks):
    """The checks as printed by `digitcli convert`."""
    rows = [("file", "agreement", "accuracy", "max |dp|", "size", "1 image", "images/s", "")]
    for c in checks:
        rows.append((c.file, f"{100 * c.agreement:.2f}%", f"{100 * c.accuracy:.2f}%", f"{c.max_difference:.1e}",
                     f"{c.size_bytes / 1e6:.2f} MB", f"{c.latency_ms:.2f} ms", f"{c.images_per_second:,.0f}",
                     "ok" if c.failure is None else "REFUSED"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))).rstrip()
                     for r in rows)
