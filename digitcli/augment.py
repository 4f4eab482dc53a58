"""On-the-fly augmentation for handwriting.

Small random affine warps (rotation, scale, shear, shift), never flips: a mirrored 2 is
not a 2; and other pens and scanners (thicker, thinner, blurry low-resolution strokes).
OpenCV warps each 28x28 image in microseconds; `digitcli.feeder` makes the next epoch's
copy in another process while the model trains on this one.
"""

import cv2
import numpy as np


ROTATION_DEG = 8.0
SCALE = 0.08  # zoom in or out by up to 8%
SHEAR = 0.10  # horizontal shear factor
SHIFT_PX = 2.0
PEN = 0.15  # share of images drawn with a thicker pen, and again with a thinner one
BLUR = 0.10  # share of images scanned at low resolution
MARKER = 0.10  # share of images drawn with a fat marker, whose loops and gaps stay closed once to_mnist thins its strokes


def random_affine(images, rng):
    """Warp each (28, 28) image in `images` by its own random affine transform."""
    n, h, w = images.shape
    angle = np.deg2rad(rng.uniform(-ROTATION_DEG, ROTATION_DEG, n))
    scale = rng.uniform(1 - SCALE, 1 + SCALE, n)
    shear = rng.uniform(-SHEAR, SHEAR, n)
    shift = rng.uniform(-SHIFT_PX, SHIFT_PX, (n, 2))
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.stack([np.stack([cos, -sin + shear * cos], -1), np.stack([sin, cos + shear * sin], -1)], 1)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    offset = centre - linear @ centre + shift
    matrices = np.concatenate([linear, offset[:, :, None]], 2).astype(np.float32)
    out = np.empty_like(images)
    for i in range(n):
        out[i] = cv2.warpAffine(images[i], matrices[i], (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def pens_and_scanners(images, rng):
    """Imitate other pens and scanners: a share of the images get thicker strokes (grey
    dilation), a share thinner ones (erosion, where the digit survives it), a share are
    reduced to 12-20 pixels and scaled back up (a blurry, low-resolution scan), a share are
    closed with a 3-5 pixel disc (a fat marker on a small digit fills its holes; `to_mnist`
    brings its strokes back to MNIST's width, not the holes)."""
    out = images.copy()
    draw = rng.random(len(images))
    kernel = np.ones((2, 2), np.uint8)
    for i in np.flatnonzero(draw < PEN):
        out[i] = cv2.dilate(images[i], kernel)
    for i in np.flatnonzero((draw >= PEN) & (draw < 2 * PEN)):
        thinner = cv2.erode(images[i], kernel)
        if thinner.max() > 127:
            out[i] = thinner
    for i in np.flatnonzero((draw >= 2 * PEN) & (draw < 2 * PEN + BLUR)):
        side = int(rng.integers(12, 21))
        small = cv2.resize(images[i], (side, side), interpolation=cv2.INTER_AREA)
        out[i] = cv2.resize(small, (28, 28), interpolation=cv2.INTER_LINEAR)
    first = 2 * PEN + BLUR
    for i in np.flatnonzero((draw >= first) & (draw < first + MARKER)):
        side = int(rng.integers(3, 6))
        out[i] = cv2.morphologyEx(images[i], cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    return out


def epoch_copy(x, y, augment, seed, epoch, outliers=None):
    """Epoch `epoch`'s shuffled (and, with `augment`, augmented) copy of images `x` (uint8)
    and labels `y`, with `outliers` (images of none of the classes) mixed in under label -1;
    the same for the same seed and epoch."""
    rng = np.random.default_rng([seed, epoch])
    if outliers is not None and len(outliers):
        x, y = np.concatenate([x, outliers]), np.concatenate([y, np.full(len(outliers), -1, y.dtype)])
    order = rng.permutation(len(x))
    images = x[order]
    if augment:
        images = random_affine(pens_and_scanners(images, rng), rng)
    return images, y[order]
