"""The pictures `digitcli inspect` writes, in the style of the other plots."""

import numpy as np

from digitcli.plots import GAP, STYLE, TILE, TRAIN_COLOUR, VAL_COLOUR, montage, plt, save

SPLIT_COLOURS = {"train": TRAIN_COLOUR, "validation": VAL_COLOUR, "all": TRAIN_COLOUR}
SAMPLES_PER_CLASS = 12


def plot_samples(scan, path, per_class=SAMPLES_PER_CLASS, seed=0):
    """Random images of each class as the model will see them (MNIST form), a row a class."""
    rng = np.random.default_rng(seed)
    usable = scan.usable
    rows = []
    for label in range(len(scan.class_names)):
        members = np.flatnonzero((scan.labels == label) & usable)
        chosen = rng.choice(members, min(per_class, len(members)), replace=False) if len(members) else []
        row = np.full((per_class, 28, 28), 128, np.uint8)  # empty places look like the gaps
        row[:len(chosen)] = scan.images[np.sort(chosen)]
        rows.append(row)
    canvas, (_, cell_h) = montage(np.concatenate(rows), per_class, background=128)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(0.55 * per_class + 1, 0.55 * len(rows) + 0.8))
        ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_yticks([r * cell_h + GAP + TILE / 2 for r in range(len(rows))], scan.class_names)
        ax.set_xticks([])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(f"{scan.name}: {per_class} random images per class, as the model sees them")
        save(fig, path)


def plot_classes(report, path):
    """Image count per class, one bar per split."""
    parts = report["splits"]
    names = list(next(iter(parts.values()))["classes"])
    width = 0.8 / len(parts)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 2), 4))
        for k, (split, p) in enumerate(parts.items()):
            counts = [p["classes"].get(n, {}).get("images", 0) for n in names]
            x = np.arange(len(names)) + (k - (len(parts) - 1) / 2) * width
            ax.bar(x, counts, width, label=f"{split} ({p['images']})", color=SPLIT_COLOURS[split])
        ax.set_xticks(range(len(names)), names, rotation=45 if max(map(len, names)) > 2 else 0)
        ax.set(xlabel="class", ylabel="images", title="Images per class")
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.18)  # room for the legend above the bars
        ax.legend(loc="upper center", ncol=len(parts))
        save(fig, path)


def plot_mean_digits(scans, path, columns=10):
    """The mean image (MNIST form) of each class over every split."""
    names = scans[0].class_names
    means = []
    for name in names:
        stack = np.concatenate([s.images[(s.labels == s.class_names.index(name)) & s.usable]
                                for s in scans if name in s.class_names])
        means.append(stack.mean(0) if len(stack) else np.zeros((28, 28)))
    peak = max(1e-6, max(m.max() for m in means))
    tiles = np.stack([np.clip(m / peak * 255 + 0.5, 0, 255) for m in means]).astype(np.uint8)
    columns = min(columns, len(names))
    canvas, (cell_w, cell_h) = montage(tiles, columns, label=12, background=255)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        rows = -(-len(names) // columns)
        fig, ax = plt.subplots(figsize=(1.1 * columns, 1.3 * rows + 0.6))
        ax.imshow(canvas, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.axis("off")
        for k, name in enumerate(names):
            r, c = divmod(k, columns)
            ax.text(c * cell_w + cell_w / 2 - 0.5, r * cell_h + GAP + TILE + 1, name, ha="center", va="top", fontsize=10)
        ax.set_title("Mean image of each class")
        save(fig, path)


def plot_pixels(report, scans, path):
    """Histogram of 8-bit gray values, and of ink coverage (share of bright pixels per image)."""
    with plt.rc_context(STYLE):
        fig, (ax_pix, ax_ink) = plt.subplots(1, 2, figsize=(11, 4))
        for scan in scans:
            colour = SPLIT_COLOURS[scan.name]
            histogram = np.asarray(report["splits"][scan.name]["pixel_histogram"], float)
            share = histogram / max(1, histogram.sum())
            ax_pix.step(np.arange(256), np.maximum(share, 1e-9), where="mid", color=colour, label=scan.name)
            coverage = 100 * (scan.images[scan.usable] > 127).mean((1, 2))
            ax_ink.hist(coverage, bins=40, range=(0, 50), histtype="step", linewidth=1.5, color=colour,
                        density=True, label=f"{scan.name} (mean {coverage.mean():.1f}%)" if len(coverage) else scan.name)
            ax_pix.annotate(f"{scan.name}: {100 * share[0]:.0f}% at 0, {100 * share[255]:.0f}% at 255",
                            (0.5, 0.92 - 0.07 * scans.index(scan)), xycoords="axes fraction", ha="center",
                            color=colour, fontsize=9)
        ax_pix.set(yscale="log", ylim=(1e-5, 3), xlim=(-4, 259), title="Pixel values (as stored, 8-bit gray)",
                   xlabel="gray value", ylabel="share of pixels (log)")
        ax_ink.set(title="Ink per image (after MNIST preprocessing)", xlabel="% of the 28x28 pixels above 127",
                   ylabel="share of images")
        ax_pix.legend(loc="center left")
        ax_ink.legend()
        save(fig, path)


def write_pictures(report, scans, report_dir):
    """samples.png, classes.png, mean_digits.png, pixels.png under `report_dir`."""
    paths = [report_dir / n for n in ("samples.png", "classes.png", "mean_digits.png", "pixels.png")]
    plot_samples(scans[0], paths[0])
    plot_classes(report, paths[1])
    plot_mean_digits(scans, paths[2])
    plot_pixels(report, scans, paths[3])
    return paths
