"""Pictures people look at: training curves, confusion matrix, worst mistakes.

matplotlib runs headless (Agg); every figure shares one style.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from digitcli.artifacts import atomic_path  # noqa: E402

STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 12,
    "axes.titleweight": "bold", "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3,
}
TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728"
TILE, GAP = 28, 4  # montage pixels: an image, and the space around it
HEAT_ALPHA = 0.6  # a saliency map's share of the colour, over the image dimmed to the rest


def save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_history(history, path):
    """Loss and accuracy per epoch, training vs validation, best epoch marked."""
    epochs = [h["epoch"] for h in history]
    best = max(history, key=lambda h: h["val_accuracy"])
    with plt.rc_context(STYLE):
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        ax_loss.plot(epochs, [h["loss"] for h in history], "o-", color=TRAIN_COLOUR, label="training")
        ax_loss.plot(epochs, [h["val_loss"] for h in history], "o-", color=VAL_COLOUR, label="validation")
        ax_loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
        ax_acc.plot(epochs, [100 * h["accuracy"] for h in history], "o-", color=TRAIN_COLOUR, label="training")
        ax_acc.plot(epochs, [100 * h["val_accuracy"] for h in history], "o-", color=VAL_COLOUR, label="validation")
        ax_acc.annotate(f"best {100 * best['val_accuracy']:.2f}%", (best["epoch"], 100 * best["val_accuracy"]),
                        textcoords="offset points", xytext=(-6, 8), ha="right", color=VAL_COLOUR)
        ax_acc.margins(y=0.12)  # room for the label above the curves
        ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="%")
        for ax in (ax_loss, ax_acc):
            ax.set_xticks(epochs)
            ax.legend()
        fig.suptitle(f"Training history ({len(history)} epochs)")
        save(fig, path)


def plot_confusion(matrix, class_names, path):
    """Heatmap of counts: rows true class, columns predicted; diagonal in its own colour."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    size = max(5, 0.6 * n + 2)
    off_diagonal = matrix * (1 - np.eye(n, dtype=matrix.dtype))
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(size + 1, size))
        shown = ax.imshow(off_diagonal, cmap="Reds", vmin=0, vmax=max(1, off_diagonal.max()))
        bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="mistakes")
        bar.locator = matplotlib.ticker.MaxNLocator(integer=True)  # counts: no 2.5 mistakes
        bar.update_ticks()
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                            color="#1a7f37" if i == j else ("white" if off_diagonal[i, j] > 0.6 * off_diagonal.max()
                                                           else "black"),
                            fontweight="bold" if i == j else "normal")
        ax.set_xticks(range(n), class_names, rotation=45 if max(map(len, class_names)) > 2 else 0)
        ax.set_yticks(range(n), class_names)
        ax.set(xlabel="predicted class", ylabel="true class")
        accuracy = np.trace(matrix) / max(1, matrix.sum())
        ax.set_title(f"Confusion matrix: {100 * accuracy:.2f}% correct of {matrix.sum()}")
        save(fig, path)


def plot_mistakes(images, true_names, predicted_names, confidences, path, columns=8, heat=None):
    """Grid of misclassified images, most confident mistakes first, labelled under each;
    `heat` (one 0..1 map per image): where the model looked for its answer, in colour over each.

    One montage in one axes: much faster to draw than a subplot per image."""
    count = len(images)
    rows = max(1, -(-count // columns))
    canvas, (cell_w, cell_h) = montage(images, columns, label=16)
    shown = canvas
    if heat is not None and count:
        glow, _ = montage(np.round(heat * 255).astype(np.uint8), columns, label=16, background=0)
        glow = glow[..., None] / 255.0
        tiles, _ = montage(np.ones_like(images), columns, label=16, background=0)
        shown = np.clip(canvas[..., None] / 255.0 * (1 - HEAT_ALPHA)
                        + HEAT_ALPHA * glow * plt.get_cmap("turbo")(glow[..., 0])[..., :3], 0, 1)
        shown[tiles == 0] = 1.0  # the space between tiles stays white
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(1.5 * columns, 2.0 * rows + 0.5))
        ax.imshow(shown, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.axis("off")
        for k in range(count):
            r, c = divmod(k, columns)
            ax.text(c * cell_w + cell_w / 2 - 0.5, r * cell_h + GAP + TILE + 1, f"true {true_names[k]}\n"
                    f"pred {predicted_names[k]} {100 * confidences[k]:.0f}%", ha="center", va="top",
                    fontsize=8, color="#b00020")
        title = f"Worst mistakes ({count} shown, most confident first)" if count else "No mistakes"
        if heat is not None and count:
            title += "\nin colour: where the model found its evidence for the wrong answer (see `digitcli explain`)"
        ax.set_title(title)
        save(fig, path)


def plot_calibration(probabilities, labels, temperature, path):
    """Reliability diagram: accuracy against confidence per bin, the gap shaded, counts below."""
    from digitcli.calibration import BINS, expected_calibration_error, reliability

    mean_confidence, accuracy, counts = reliability(probabilities, labels, BINS)
    edges = np.linspace(0, 1, BINS + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, 1 / BINS
    used = counts > 0
    ece = expected_calibration_error(probabilities, labels, BINS)
    with plt.rc_context(STYLE):
        fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(6, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        ax.plot([0, 1], [0, 100], "--", color="gray", label="perfect calibration")
        ax.bar(centres[used], 100 * accuracy[used], width * 0.9, color=TRAIN_COLOUR, label="accuracy in bin")
        ax.bar(centres[used], 100 * (mean_confidence[used] - accuracy[used]), width * 0.9, bottom=100 * accuracy[used],
               fill=False, edgecolor=VAL_COLOUR, hatch="///", linewidth=0.8, label="gap to mean confidence")
        ax.plot(mean_confidence[used], 100 * mean_confidence[used], "o", color=VAL_COLOUR, ms=4)
        ax.set(ylabel="accuracy (%)", ylim=(0, 102), title=f"Calibration: expected calibration error {100 * ece:.2f} "
               f"points\n({BINS} bins; " + (f"temperature {temperature:.3f})" if temperature != 1.0 else "no temperature)"))
        ax.legend(loc="upper left")
        ax_n.bar(centres[used], counts[used], width * 0.9, color=TRAIN_COLOUR)
        for x, n in zip(centres[used], counts[used]):
            ax_n.text(x, n, str(n), ha="center", va="bottom", fontsize=7)
        ax_n.set(yscale="log", ylabel="images", xlabel="confidence (probability of the predicted class)",
                 xlim=(0, 1), ylim=(0.8, max(10, counts.max()) * 4))
        save(fig, path)


def montage(images, columns, label=0, background=255):
    """Tile 28x28 images row by row into one array, GAP pixels apart with `label` pixels of
    room under each: (canvas, (cell width, cell height)). One imshow draws them all; an
    image's top edge is GAP below its cell's."""
    rows = max(1, -(-len(images) // columns))
    cell_w, cell_h = TILE + GAP, TILE + GAP + label
    canvas = np.full((rows * cell_h, columns * cell_w), background, np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        canvas[r * cell_h + GAP:r * cell_h + GAP + TILE, c * cell_w + GAP // 2:c * cell_w + GAP // 2 + TILE] = image
    return canvas, (cell_w, cell_h)
