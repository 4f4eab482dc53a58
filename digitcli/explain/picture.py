"""One picture per image, read at a glance: the answer and where its evidence lies on top,
then every layer, first to last.

Each group of maps is one tiled image in one axes (a subplot per map draws ten times
slower); the figure is drawn once, without pyplot (half a second sooner to start).
"""

import cv2
import matplotlib
import numpy as np
from matplotlib.figure import Figure

from digitcli.artifacts import atomic_path
from digitcli.explain.tiles import coloured, grid

COLUMNS = 16  # maps per row of a layer's tiles
STRONGEST = 16  # hidden dense units shown as weight templates
SIGNED = "RdBu_r"  # negative blue, positive red
ACTIVE = "magma"
WIDTH, TOP, TITLE, ROW_TITLE = 15.0, 2.9, 0.5, 0.5  # inches: the figure, its top row (with titles), the
# headline, a layer row's title (two lines)
DPI = 100
LEFT, RIGHT = 0.02, 0.99  # the axes' share of the figure's width
AXES_PIXELS = WIDTH * DPI * (RIGHT - LEFT)
FONT, FONT_SCALE, LABEL_PIXELS = cv2.FONT_HERSHEY_SIMPLEX, 0.38, 14  # tile labels
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.titleweight": "bold", "savefig.dpi": DPI}


def draw(ex, path):
    """Write the Explanation `ex` as a PNG at `path`."""
    rows = layer_rows(ex)
    height = TITLE + TOP + sum(ROW_TITLE + row.height for row in rows) + 0.2
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, height))
        y = height - TITLE  # inches from the bottom, going down row by row
        panel = (RIGHT - LEFT) / 6
        draw_answer(ex, [fig.add_axes((LEFT + i * panel + 0.1 * panel, (y - TOP + 0.3) / height, 0.8 * panel,
                                       (TOP - 0.9) / height)) for i in range(6)])
        y -= TOP
        for row in rows:
            y -= ROW_TITLE + row.height
            row.draw(fig.add_axes((LEFT, y / height, RIGHT - LEFT, row.height / height)))
        fig.suptitle(f"{ex.path or 'image'}: {ex.verdict()}", fontsize=13, fontweight="bold", y=1 - 0.25 / height)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", pil_kwargs={"compress_level": 1})


def draw_answer(ex, axes):
    """The top row: the image, what the model saw, where it looked, the evidence both ways, the probabilities."""
    seen, names = ex.seen, ex.class_names
    a, b = ex.answer, ex.runner_up
    axes[0].imshow(ex.given, cmap="gray", vmin=0, vmax=1)
    title(axes[0], "as given")
    axes[1].imshow(seen, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    title(axes[1], "what the model saw\n(28x28)")
    if ex.cam is not None:
        overlay(axes[2], seen, ex.cam / max(ex.cam.max(), 1e-12))
        title(axes[2], f"where it looked for {names[a]}\n(HiResCAM, last convolution)")
    else:
        overlay(axes[2], seen, np.abs(ex.gradients[a]) / max(np.abs(ex.gradients[a]).max(), 1e-12))
        title(axes[2], f"pixels that move {names[a]} most\n(size of the input gradient)")
    signed(axes[3], seen, ex.gradients[a])
    title(axes[3], f"evidence for {names[a]} (input gradient):\nink on red raises it,\non blue lowers it")
    signed(axes[4], seen, ex.toward(b))
    title(axes[4], f"what would make it a {names[b]}:\nadd ink on red,\ntake it off blue")
    order = np.arange(len(names))[::-1]
    axes[5].barh([names[i] for i in order], ex.probabilities[order],
                 color=["#d62728" if i == a else "#9aa0a6" for i in order])
    axes[5].set(xlim=(0, 1))
    title(axes[5], "probabilities (calibrated)")
    for i in (a, b):
        axes[5].text(min(ex.probabilities[i], 0.75) + 0.02, len(names) - 1 - i, f"{100 * ex.probabilities[i]:.1f}%",
                     va="center", fontsize=8)
    axes[5].tick_params(labelsize=8 if len(names) > 12 else 10)
    for ax in axes[:5]:
        ax.axis("off")


def title(ax, text, left=False):
    """A bold title over `ax`, placed without matplotlib's title layout (which looks for tick
    labels to avoid on every axes: a third of the drawing time)."""
    ax.text(0 if left else 0.5, 1.02, text, transform=ax.transAxes, ha="left" if left else "center", va="bottom",
            fontsize=10 if left else 9, fontweight="bold")


def overlay(ax, seen, heat):
    ax.imshow(seen, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.imshow(heat, cmap="inferno", alpha=0.6, vmin=0, vmax=1, interpolation="bilinear")


def signed(ax, seen, values):
    top = max(float(np.abs(values).max()), 1e-12)
    ax.imshow(values, cmap=SIGNED, vmin=-top, vmax=top, interpolation="nearest")
    ax.contour(seen, levels=[100], colors="black", linewidths=0.8)


class Tiles:
    """A layer's row: maps tiled into one image, a label under each, a title over all.

    The tiles are coloured and labelled here, at the size they are shown (OpenCV's text):
    one image for matplotlib to place instead of a text object per map, a third of the drawing time."""

    def __init__(self, maps, labels, title, cmap=ACTIVE, symmetric=False, columns=COLUMNS):
        self.maps, self.labels, self.title, self.cmap, self.symmetric = maps, labels, title, cmap, symmetric
        self.columns = min(columns, len(maps))
        side = maps.shape[1]
        self.gap = max(1, side // 5)
        self.canvas, (self.cell_h, self.cell_w) = grid(maps, self.columns, self.gap)
        self.zoom = AXES_PIXELS / (self.columns * self.cell_w)  # shown pixels per map pixel
        rows = -(-len(maps) // self.columns)
        self.shown = (round(self.canvas.shape[0] * self.zoom) + rows * LABEL_PIXELS, round(self.canvas.shape[1] * self.zoom))
        self.height = self.shown[0] / DPI

    def draw(self, ax):
        # weights: a few rare edge pixels get large ones, which would wash out the rest
        top = max(float(np.nanpercentile(np.abs(self.canvas), 99) if self.symmetric else np.nanmax(self.canvas)), 1e-12)
        colours = matplotlib.colormaps[self.cmap](np.linspace(0, 1, 256), bytes=True)[:, :3]
        rgb = coloured(self.canvas, colours, -top if self.symmetric else 0.0, top)
        canvas = np.full((*self.shown, 3), 255, np.uint8)
        tile_h = round(self.maps.shape[1] * self.zoom)
        for r in range(-(-len(self.maps) // self.columns)):  # each row of tiles, then its labels
            band = rgb[r * self.cell_h:(r + 1) * self.cell_h]
            y = round(r * self.cell_h * self.zoom) + r * LABEL_PIXELS
            scaled = cv2.resize(band, (self.shown[1], round(len(band) * self.zoom)), interpolation=cv2.INTER_NEAREST)
            canvas[y:y + len(scaled)] = scaled[:len(canvas) - y]
            for c in range(self.columns):
                k = r * self.columns + c
                if k < len(self.labels):
                    x = round((c * self.cell_w + self.maps.shape[2] / 2) * self.zoom)
                    width = cv2.getTextSize(self.labels[k], FONT, FONT_SCALE, 1)[0][0]
                    cv2.putText(canvas, self.labels[k], (x - width // 2, y + tile_h + LABEL_PIXELS - 2), FONT,
                                FONT_SCALE, (40, 40, 40), 1, cv2.LINE_AA)
        ax.imshow(canvas, interpolation="nearest")
        title(ax, self.title, left=True)
        ax.axis("off")


def layer_rows(ex):
    """The rows under the answer: first-layer weights, then each layer's output."""
    rows = []
    weights, kind = ex.first_weights, ex.first_kind
    if kind == "filters":
        rows.append(Tiles(weights, [f"#{k}" for k in range(len(weights))],
                          f"conv 1's {len(weights)} learned {weights.shape[1]}x{weights.shape[2]} filters "
                          "(red: bright pixels there add, blue: they subtract)", SIGNED, symmetric=True))
    for layer in ex.layers:
        out = ex.activations[layer.name]
        if layer.kind == "conv":
            order = np.argsort(-out.reshape(len(out), -1).max(1), kind="stable")
            rows.append(Tiles(out[order], [f"#{k}" for k in order],
                              f"{layer.name} after ReLU: {len(out)} maps of {out.shape[1]}x{out.shape[2]}, strongest "
                              f"first\n{layer.about}"))
        elif layer.kind == "lstm":
            rows.append(Heat(out.T, f"{layer.name}: {layer.about}"))
        elif layer.kind == "dense" and layer is ex.layers[0] and kind == "templates":
            order = np.argsort(-out, kind="stable")[:STRONGEST]
            rows.append(Tiles(weights[order], [f"#{k} {out[k]:.1f}" for k in order],
                              f"{layer.name}: the {len(order)} of its {len(out)} units most active for this image, "
                              "each unit's weights over the 784 pixels (red adds, blue subtracts; pixels blank in "
                              "every training image keep their random starting weights)",
                              SIGNED, symmetric=True))
        else:
            rows.append(Strip(out, f"{layer.name}: {len(out)} units, {100 * (out > 0).mean():.0f}% active\n"
                                   f"{layer.about}"))
    if kind == "templates" and not ex.layers:  # the linear model: one weight image per class
        rows.append(Tiles(weights, list(ex.class_names),
                          "the weights of each class over the 784 pixels: the image's ink on red votes for the class, "
                          "on blue against", SIGNED, symmetric=True, columns=len(weights)))
    return rows


class Heat:
    """A (units, steps) array as one heat map: an LSTM's state after each row."""

    height = 2.2

    def __init__(self, values, title):
        self.values, self.title = values, title

    def draw(self, ax):
        top = max(float(np.abs(self.values).max()), 1e-12)
        ax.imshow(self.values, cmap=SIGNED, vmin=-top, vmax=top, aspect="auto", interpolation="nearest")
        ax.set(xlabel="image row read (top to bottom)", ylabel="unit")
        title(ax, self.title, left=True)


class Strip:
    """A dense layer's units as a strip of cells, in unit order."""

    height = 1.0

    def __init__(self, values, title):
        self.values, self.title = values, title

    def draw(self, ax):
        columns = min(100, len(self.values))
        rows = -(-len(self.values) // columns)
        canvas = np.full(rows * columns, np.nan, np.float32)
        canvas[:len(self.values)] = self.values
        cmap = matplotlib.colormaps[ACTIVE].with_extremes(bad="white")
        ax.imshow(canvas.reshape(rows, columns), cmap=cmap, vmin=0, vmax=max(float(self.values.max()), 1e-12),
                  interpolation="nearest", aspect="auto")
        title(ax, self.title, left=True)
        ax.axis("off")
