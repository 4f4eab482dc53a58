"""Many small maps as one image: tiled, coloured (what the picture and the page both show)."""

import cv2
import numpy as np


def grid(maps, columns, gap=1):
    """Tile (N, h, w) maps row by row into one float array, `gap` pixels apart, NaN between
    the tiles: (canvas, (cell height, cell width))."""
    n, h, w = maps.shape
    rows = -(-n // columns)
    cell_h, cell_w = h + gap, w + gap
    canvas = np.full((rows * cell_h - gap, columns * cell_w - gap), np.nan, np.float32)
    for k, image in enumerate(maps):
        r, c = divmod(k, columns)
        canvas[r * cell_h:r * cell_h + h, c * cell_w:c * cell_w + w] = image
    return canvas, (cell_h, cell_w)


def coloured(canvas, colours, low, high):
    """RGB uint8 of a float canvas: values from `low` to `high` through `colours` (256, 3)
    uint8; NaN white."""
    scaled = np.nan_to_num((canvas - low) / max(high - low, 1e-12), nan=0.0)
    rgb = colours[np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)]
    rgb[np.isnan(canvas)] = 255
    return rgb


def opencv_colours(colormap=cv2.COLORMAP_MAGMA):
    """(256, 3) RGB uint8 of one of OpenCV's colour maps (no matplotlib needed)."""
    return cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), colormap)[:, 0, ::-1].copy()
