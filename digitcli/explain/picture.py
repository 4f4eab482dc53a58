"""One picture per image, read at a glance: the answer and where its evidence lies on top,
then every layer, first to last.

The picture is made of images and captions, so it is composed directly: OpenCV colours,
scales and tiles the maps, Pillow sets the text (DejaVu Sans, the font matplotlib ships).
matplotlib's import and layout took 0.8-1 s of the command's 1.2-1.6 s; this takes a tenth.
"""

import importlib.util
import os
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitcli.artifacts import atomic_path
from digitcli.explain.tiles import coloured, grid, opencv_colours

WIDTH, MARGIN = 1500, 20  # pixels: the picture, the space at its sides
PANEL = 196  # pixels: each square of the top row (28 x 7)
COLUMNS = 16  # maps per row of a layer's tiles
STRONGEST = 16  # hidden dense units shown as weight templates
LABEL = 14  # pixels under each tile for its label
INK, MUTED, ANSWER, OTHER = (20, 20, 20), (90, 98, 106), (214, 39, 40), (154, 160, 166)
# ColorBrewer's RdBu, blue (negative) to red (positive), and OpenCV's magma and inferno
RDBU = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d",
        "#b2182b", "#67001f"]


def signed_colours():
    anchors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in RDBU], np.float64)
    at = np.linspace(0, 255, len(RDBU))
    return np.stack([np.interp(np.arange(256), at, anchors[:, k]) for k in range(3)], 1).round().astype(np.uint8)


SIGNED, ACTIVE, HEAT = signed_colours(), opencv_colours(cv2.COLORMAP_MAGMA), opencv_colours(cv2.COLORMAP_INFERNO)


@lru_cache(maxsize=None)
def font(size, bold=False):
    """DejaVu Sans from matplotlib's own files (a dependency already), else Pillow's default."""
    folder = os.path.join(importlib.util.find_spec("matplotlib").submodule_search_locations[0], "mpl-data", "fonts", "ttf")
    try:
        return ImageFont.truetype(os.path.join(folder, "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"), size)
    except OSError:
        return ImageFont.load_default(size)


def draw(ex, path):
    """Write the Explanation `ex` as a PNG at `path`."""
    blocks = [header(ex), top_row(ex)] + [block for row in layer_rows(ex) for block in row]
    canvas = np.full((sum(len(b) for b in blocks), WIDTH, 3), 255, np.uint8)
    y = 0
    for block in blocks:
        canvas[y:y + len(block)] = block
        y += len(block)
    with atomic_path(path) as tmp:
        Image.fromarray(canvas).save(tmp, format="PNG", compress_level=1)


def text_block(lines, size=13, bold=False, height=None, align="left", width=WIDTH, colour=INK):
    """White RGB strip (height, width) with `lines` of text."""
    image = Image.new("RGB", (width, height or len(lines) * (size + 5) + 6), "white")
    pen = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        x = MARGIN if align == "left" else (width - pen.textlength(line, font=font(size, bold))) / 2
        pen.text((x, 3 + i * (size + 5)), line, font=font(size, bold), fill=colour)
    return np.asarray(image)


def header(ex):
    return text_block([f"{ex.path or 'image'}: {ex.verdict()}"], size=20, bold=True, align="center", height=44)


def top_row(ex):
    """The image, what the model saw, where it looked, the evidence both ways, the probabilities."""
    names, seen, a, b = ex.class_names, ex.seen, ex.answer, ex.runner_up
    if ex.cam is not None:
        looked, how = ex.cam, f"where it looked for {names[a]}|(HiResCAM, last convolution)"
    else:
        looked, how = np.abs(ex.gradients[a]), f"pixels that move {names[a]} most|(size of the input gradient)"
    panels = [
        ("as given", fit(ex.given)),
        ("what the model saw|(28x28)", gray(seen)),
        (how, overlay(seen, looked / max(float(looked.max()), 1e-12))),
        (f"evidence for {names[a]} (input gradient):|ink on red raises it,|on blue lowers it",
         signed(seen, ex.gradients[a])),
        (f"what would make it a {names[b]}:|add ink on red,|take it off blue", signed(seen, ex.toward(b))),
        ("probabilities (calibrated)", bars(ex)),
    ]
    cell = (WIDTH - 2 * MARGIN) // len(panels)
    height = max(len(p) for _, p in panels)
    row = np.full((60 + height + 16, WIDTH, 3), 255, np.uint8)
    for i, (title, picture) in enumerate(panels):
        x = MARGIN + i * cell
        lines = title.split("|")
        row[60 - 17 * len(lines) - 4:60, x:x + cell] = text_block(lines, size=12, bold=True, align="center",
                                                                 width=cell, height=17 * len(lines) + 4)
        left = x + (cell - picture.shape[1]) // 2
        row[60:60 + len(picture), left:left + picture.shape[1]] = picture
    return row


def gray(image):
    """(28, 28) uint8 -> PANEL x PANEL RGB, each pixel a square."""
    big = cv2.resize(image, (PANEL, PANEL), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2RGB)


def fit(given):
    """The image as given (gray 0..1), within PANEL x PANEL, its shape kept."""
    scale = PANEL / max(given.shape)
    size = (max(1, round(given.shape[1] * scale)), max(1, round(given.shape[0] * scale)))
    image = cv2.resize(np.clip(given * 255 + 0.5, 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)


def overlay(seen, heat):
    """A 0..1 map in colour over the image: 40% the image, 60% the map (smoothly enlarged)."""
    smooth = np.clip(cv2.resize(heat.astype(np.float32), (PANEL, PANEL), interpolation=cv2.INTER_LINEAR), 0, 1)
    return (0.4 * gray(seen) + 0.6 * coloured(smooth, HEAT, 0.0, 1.0)).astype(np.uint8)


def signed(seen, values):
    """Signed values, blue to red around white, with the digit's outline in black."""
    top = max(float(np.abs(values).max()), 1e-12)
    picture = np.ascontiguousarray(coloured(cv2.resize(values.astype(np.float32), (PANEL, PANEL),
                                                       interpolation=cv2.INTER_NEAREST), SIGNED, -top, top))
    outline = cv2.resize(seen, (PANEL, PANEL), interpolation=cv2.INTER_LINEAR) > 100
    contours, _ = cv2.findContours(outline.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(picture, contours, -1, INK, 1, cv2.LINE_AA)
    return picture


def bars(ex):
    """One bar per class, the answer red, the probabilities of the answer and the runner-up written."""
    names = ex.class_names
    step = max(12, min(20, PANEL // len(names)))
    width, label_w = 220, 44
    image = Image.new("RGB", (width, step * len(names) + 4), "white")
    pen = ImageDraw.Draw(image)
    small = font(min(12, step - 2))
    for i, (name, p) in enumerate(zip(names, ex.probabilities)):
        y = 2 + i * step
        pen.text((label_w - 6 - pen.textlength(name[:6], font=small), y), name[:6], font=small, fill=INK)
        length = round(float(p) * (width - label_w - 50))
        pen.rectangle([label_w, y + 2, label_w + max(length, 1), y + step - 3], fill=ANSWER if i == ex.answer else OTHER)
        if i in (ex.answer, ex.runner_up):
            pen.text((label_w + length + 4, y), f"{100 * p:.1f}%", font=small, fill=INK)
    pen.line([label_w, 0, label_w, step * len(names) + 4], fill=MUTED)
    return np.asarray(image)


def layer_rows(ex):
    """Under the answer, each a (title, picture) pair of blocks: first-layer weights, then each layer's output."""
    rows = []
    weights, kind = ex.first_weights, ex.first_kind
    if kind == "filters":
        rows.append(tiles(weights, [f"#{k}" for k in range(len(weights))],
                          [f"conv 1's {len(weights)} learned {weights.shape[1]}x{weights.shape[2]} filters "
                           "(red: bright pixels there add, blue: they subtract)"], SIGNED, symmetric=True))
    for layer in ex.layers:
        out = ex.activations[layer.name]
        if layer.kind == "conv":
            order = np.argsort(-out.reshape(len(out), -1).max(1), kind="stable")
            rows.append(tiles(out[order], [f"#{k}" for k in order],
                              [f"{layer.name} after ReLU: {len(out)} maps of {out.shape[1]}x{out.shape[2]}, "
                               "strongest first", layer.about], ACTIVE))
        elif layer.kind == "lstm":
            rows.append(heat_map(out.T, [f"{layer.name}: {layer.about}",
                                         "left to right: the 28 rows, in the order read; one line per unit "
                                         "(blue negative, red positive)"]))
        elif layer.kind == "dense" and layer is ex.layers[0] and kind == "templates":
            order = np.argsort(-out, kind="stable")[:STRONGEST]
            rows.append(tiles(weights[order], [f"#{k} {out[k]:.1f}" for k in order],
                              [f"{layer.name}: the {len(order)} of its {len(out)} units most active for this image, "
                               "each unit's weights over the 784 pixels (red adds, blue subtracts)",
                               "pixels blank in every training image keep their random starting weights"],
                              SIGNED, symmetric=True))
        else:
            rows.append(strip(out, [f"{layer.name}: {len(out)} units, {100 * (out > 0).mean():.0f}% active",
                                    layer.about]))
    if kind == "templates" and not ex.layers:  # the linear model: one weight image per class
        rows.append(tiles(weights, list(ex.class_names),
                          ["the weights of each class over the 784 pixels: the image's ink on red votes for the "
                           "class, on blue against"], SIGNED, symmetric=True, columns=len(weights)))
    return rows


def titled(lines, picture):
    """(title block, picture block with margins): a row under the answer."""
    block = np.full((len(picture) + 12, WIDTH, 3), 255, np.uint8)
    block[:len(picture), MARGIN:MARGIN + picture.shape[1]] = picture
    return text_block(lines[:1], size=14, bold=True) if len(lines) == 1 else np.vstack(
        [text_block(lines[:1], size=14, bold=True), text_block(lines[1:], size=12, colour=MUTED)]), block


def tiles(maps, labels, lines, colours, symmetric=False, columns=COLUMNS):
    """A layer's maps tiled in rows, each scaled up and labelled under it."""
    columns = min(columns, len(maps))
    side = maps.shape[1]
    gap = max(1, side // 5)
    canvas, (cell_h, cell_w) = grid(maps, columns, gap)
    # weights: a few rare edge pixels get large ones, which would wash out the rest
    top = max(float(np.nanpercentile(np.abs(canvas), 99) if symmetric else np.nanmax(canvas)), 1e-12)
    rgb = coloured(canvas, colours, -top if symmetric else 0.0, top)
    zoom = (WIDTH - 2 * MARGIN) / rgb.shape[1]
    rows = -(-len(maps) // columns)
    tile = round(side * zoom)
    band_h = tile + LABEL + round(gap * zoom)
    picture = np.full((rows * band_h, WIDTH - 2 * MARGIN, 3), 255, np.uint8)
    for r in range(rows):  # a row of tiles at a time, the labels' room left white
        picture[r * band_h:r * band_h + tile] = cv2.resize(rgb[r * cell_h:r * cell_h + side], (picture.shape[1], tile),
                                                           interpolation=cv2.INTER_NEAREST)
    image = Image.fromarray(picture)
    pen = ImageDraw.Draw(image)
    small = font(10)
    for k, label in enumerate(labels):
        r, c = divmod(k, columns)
        x = (c * cell_w + side / 2) * zoom - pen.textlength(label, font=small) / 2
        pen.text((x, r * band_h + tile + 1), label, font=small, fill=MUTED)
    return titled(lines, np.asarray(image))


def strip(values, lines):
    """A dense layer's units as cells, in unit order, up to 100 to a line."""
    columns = min(100, len(values))
    padded = np.full(-(-len(values) // columns) * columns, np.nan, np.float32)
    padded[:len(values)] = values
    cells = coloured(padded.reshape(-1, columns), ACTIVE, 0.0, max(float(values.max()), 1e-12))
    width = WIDTH - 2 * MARGIN
    return titled(lines, cv2.resize(cells, (width, round(width / columns * 0.8) * len(cells)),
                                    interpolation=cv2.INTER_NEAREST))


def heat_map(values, lines):
    """(units, steps) as one map, blue to red: an LSTM's state after each row."""
    top = max(float(np.abs(values).max()), 1e-12)
    width = WIDTH - 2 * MARGIN
    return titled(lines, cv2.resize(coloured(values, SIGNED, -top, top), (width, 256), interpolation=cv2.INTER_NEAREST))
