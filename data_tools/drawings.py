"""Turn MNIST digits into the kind of image people photograph or draw.

Each drawing is dark ink on light paper, scaled up 3-8x, placed off-centre on a larger
canvas, with light noise; some are BGR with coloured ink, some BGRA with a transparent
background. Used by the tests and `make bench` to check `predict` on real-looking input.
"""

import cv2
import numpy as np

from digitcli.preprocess import to_uint8

INKS = [(40, 40, 40), (160, 60, 20), (30, 30, 170), (20, 110, 20)]  # BGR: black, blue, red, green


def make_drawing(digit, rng):
    """One drawing-style image (uint8 gray, BGR or BGRA) from a 28x28 MNIST digit."""
    scale = rng.uniform(3, 8)
    size = int(round(28 * scale))
    big = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    big = np.clip(big, 0, 1)
    height, width = size + int(rng.integers(20, 200)), size + int(rng.integers(20, 200))
    top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
    ink = np.zeros((height, width), np.float32)
    ink[top:top + size, left:left + size] = big
    kind = rng.choice(["gray", "colour", "transparent"])
    noise = rng.normal(0, 0.03, ink.shape).astype(np.float32)
    if kind == "gray":
        paper = rng.uniform(0.85, 1.0)
        return to_uint8(paper - ink * (paper - 0.1) + noise)
    colour = np.array(INKS[rng.integers(len(INKS))], np.float32) / 255.0
    paper = np.ones(3, np.float32) * rng.uniform(0.85, 1.0)
    image = paper * (1 - ink[..., None]) + colour * ink[..., None] + noise[..., None]
    if kind == "colour":
        return to_uint8(image)
    alpha = np.clip(ink * 1.5, 0, 1)  # ink opaque, paper fully transparent
    return to_uint8(np.dstack([image, alpha]))
