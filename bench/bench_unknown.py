"""How often a model says "not a digit": on outlier sets it never saw (want >= 95% flagged)
and on real digits, MNIST's test set and every stress set (want <= 1%); AUROC per outlier
set, and a picture of the hardest cases both ways. `make bench` runs it on its three seeds.

    python bench/bench_unknown.py --weights bench-out/cnn-seed0.h5,... [--count 500] [--out bench-out]
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_tools import outliers, stress  # noqa: E402
from data_tools.sources import locate_mnist_npz  # noqa: E402
from digitcli.inference import open_classifier  # noqa: E402
from digitcli import outliers as generated  # noqa: E402  (the generated ones: data_tools.outliers holds the held-apart sets)

SHOWN = 12


def in_mnist_form(images, drop_thin=False):
    """to_mnist of each image (`digitcli.outliers.in_mnist_form`); how many had no ink (answered
    "no ink", never predicted) and, with `drop_thin`, how many became a thin upright bar (a 1 to
    anyone: a crop of a pole)."""
    dropped = {"no ink": 0, "thin bar (a 1)": 0}
    return generated.in_mnist_form(images, drop_thin, dropped), dropped


def score(classifier, images):
    """(calibrated confidence, unknown flag, predicted class index) per MNIST-form image."""
    probabilities = classifier.predict(images)
    return probabilities.max(1), classifier.unknown(probabilities), probabilities.argmax(1)


def measure(weights, outlier_sets, digit_sets):
    from sklearn.metrics import roc_auc_score

    classifier = open_classifier(weights)
    digits_confidence, _, _ = score(classifier, digit_sets["MNIST test"][0])
    result = {"unknown_below": classifier.meta.get("unknown_below"), "outliers": {}, "digits": {}}
    for name, images in outlier_sets.items():
        confidence, flagged, _ = score(classifier, images)
        labels = np.r_[np.ones(len(digits_confidence)), np.zeros(len(confidence))]
        result["outliers"][name] = {"flagged": float(flagged.mean()),
                                    "auroc": float(roc_auc_score(labels, np.r_[digits_confidence, confidence]))}
    for name, (images, labels) in digit_sets.items():
        confidence, flagged, predicted = score(classifier, images)
        result["digits"][name] = {"flagged": float(flagged.mean()), "accuracy": float((predicted == labels).mean())}
    return result


def hardest_picture(weights, outlier_sets, digit_sets, path):
    """Top row: the outliers the model was surest of; bottom: the real digits it flagged first."""
    classifier = open_classifier(weights)
    every = np.concatenate(list(outlier_sets.values()))
    confidence, _, predicted = score(classifier, every)
    worst = np.argsort(-confidence)[:SHOWN]
    digits, _ = digit_sets["MNIST test"]
    d_confidence, _, d_predicted = score(classifier, digits)
    least = np.argsort(d_confidence)[:SHOWN]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, SHOWN, figsize=(SHOWN * 1.1, 3.0))
    rows = [(every, worst, confidence, predicted, "outlier"), (digits, least, d_confidence, d_predicted, "digit")]
    for row, (images, chosen, conf, pred, kind) in enumerate(rows):
        for col, i in enumerate(chosen):
            ax = axes[row, col]
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"{classifier.class_names[pred[i]]} {100 * conf[i]:.0f}%", fontsize=8)
            ax.axis("off")
    threshold = classifier.meta.get("unknown_below") or 0
    figure.suptitle(f"Top: outliers the model was surest of. Bottom: real digits it was least sure of "
                    f"(flagged below {100 * threshold:.0f}%)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def make_sets(count, source):
    with np.load(source) as data:
        x_test, y_test = data["x_test"], data["y_test"]
    outlier_sets, no_ink = {}, {}
    for name in outliers.SETS:
        outlier_sets[name], no_ink[name] = in_mnist_form(outliers.make_set(name, count), drop_thin=True)
    digit_sets = {"MNIST test": (x_test, y_test)}
    for name in stress.SETS:
        images, labels = stress.make_set(name, x_test[:count], y_test[:count])
        mnist, dropped = in_mnist_form(images)
        assert not dropped["no ink"], f"{name}: {dropped['no ink']} digits without ink"
        digit_sets[name] = (mnist, np.asarray(labels))
    return outlier_sets, no_ink, digit_sets


def bench_unknown(weights_list, out, count=500, source=None):
    outlier_sets, no_ink, digit_sets = make_sets(count, source or locate_mnist_npz(REPO))
    names = [Path(w).name for w in weights_list]
    labels = names if len(set(names)) == len(names) else weights_list  # two folders' cnn-seed0.h5 stay apart
    runs = {label: measure(w, outlier_sets, digit_sets) for label, w in zip(labels, weights_list)}
    hardest_picture(weights_list[0], outlier_sets, digit_sets, Path(out) / "unknown-hardest.png")
    summary = {"images_per_set": count, "not_scored": no_ink, "runs": runs, "mean": {}}
    for group in ("outliers", "digits"):
        for name in next(iter(runs.values()))[group]:
            values = [r[group][name] for r in runs.values()]
            summary["mean"][f"{group}: {name}"] = {k: statistics.mean(v[k] for v in values) for k in values[0]}
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="comma-separated .h5 files (one per seed)")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--out", default="bench-out")
    args = parser.parse_args()
    Path(args.out).mkdir(exist_ok=True)
    result = bench_unknown(args.weights.split(","), args.out, args.count)
    Path(args.out, "unknown.json").write_text(json.dumps(result, indent=1) + "\n")
    print("| set | flagged unknown (mean of seeds) | AUROC vs MNIST test | accuracy |\n|---|---|---|---|")
    for name, v in result["mean"].items():
        print(f"| {name} | {100 * v['flagged']:.1f}% | {v.get('auroc', float('nan')):.4f} | "
              f"{100 * v['accuracy']:.2f}% |" if "accuracy" in v else
              f"| {name} | {100 * v['flagged']:.1f}% | {v['auroc']:.4f} | |")


if __name__ == "__main__":
    main()
