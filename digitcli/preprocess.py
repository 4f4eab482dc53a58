"""Bring any digit image to MNIST's conventions: the one function train, predict and
evaluate all share.

MNIST digits are light strokes on a dark 28x28 background, the digit's bounding box
scaled to fit 20x20 (aspect ratio kept) and centred by its centre of mass. An image that
already is an MNIST-style 28x28 grayscale file comes back unchanged.
"""

import cv2
import numpy as np

SIZE = 28
BOX = 20
MIN_CONTRAST = 0.15  # ink must differ from the background by this much (0..1 scale)


class NoInkError(ValueError):
    """The image holds no stroke that stands out from its background."""


def to_mnist(image):
    """Return a 28x28 uint8 image (ink light on dark) from an OpenCV-loaded array."""
    if mnist_sized(image) and dark_frame(image):
        return image
    gray = to_gray(image)
    if border_level(gray) >= 0.5:
        gray = 1.0 - gray
    ink = gray - border_level(gray)
    peak = ink.max()
    if peak < MIN_CONTRAST:
        raise NoInkError("no ink found (blank or uniform image)")
    ink = np.clip(ink / peak, 0.0, 1.0)
    mask = ink_mask(ink)
    ys, xs = np.nonzero(mask)
    ink = ink * (ink > 0.5 * otsu_level(ink))  # drop faint background noise, keep anti-aliasing
    digit = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return centre_by_mass(fit_box(digit))


def to_gray(image):
    """Float gray image in 0..1 from gray, BGR or BGRA arrays of 8 or 16 bits."""
    scale = 65535.0 if image.dtype == np.uint16 else 255.0 if image.dtype == np.uint8 else max(image.max(), 1)
    image = image.astype(np.float32) / scale
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    if image.shape[2] == 4:
        return composite_on_paper(image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def composite_on_paper(bgra):
    """Flatten BGRA: transparent areas become paper, the colour opposite to the ink."""
    gray = cv2.cvtColor(bgra[:, :, :3], cv2.COLOR_BGR2GRAY)
    alpha = bgra[:, :, 3]
    if alpha.min() >= 1.0:
        return gray
    opaque = alpha > 0.5
    ink_is_dark = opaque.any() and gray[opaque].mean() < 0.5
    paper = 1.0 if ink_is_dark else 0.0
    return gray * alpha + paper * (1.0 - alpha)


def mnist_sized(image):
    """A 28x28 single-channel uint8 array: MNIST form already, if its frame is dark."""
    return image.dtype == np.uint8 and image.shape == (SIZE, SIZE)


def dark_frame(image):
    """True when the outer frame of a uint8 image is mostly dark (cheap: the hot path)."""
    return bool(dark_frames(image[None])[0])


def dark_frames(images):
    """dark_frame for a stack of same-sized uint8 images at once."""
    frame_sum = (images[:, 0].sum(1, dtype=np.int64) + images[:, -1].sum(1, dtype=np.int64)
                 + images[:, 1:-1, 0].sum(1, dtype=np.int64) + images[:, 1:-1, -1].sum(1, dtype=np.int64))
    h, w = images.shape[1:3]
    return frame_sum < 128 * (2 * w + 2 * (h - 2))


def border_level(gray):
    """The background brightness, read off the image's outer frame."""
    frame = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(frame))


def otsu_level(ink):
    """Otsu's threshold of a 0..1 image, on the same scale."""
    level, _ = cv2.threshold((ink * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return level / 255.0


def ink_mask(ink):
    """Pixels that are ink: above Otsu's level, specks removed on large images."""
    mask = (ink > otsu_level(ink)).astype(np.uint8)
    if min(mask.shape) >= 3 * SIZE:
        cleaned = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cleaned if cleaned.any() else mask
    return mask


def fit_box(digit):
    """Scale so the longer side is 20 pixels, keeping the aspect ratio."""
    h, w = digit.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(digit, size, interpolation=interpolation)


def centre_by_mass(digit):
    """Place in 28x28 with the centre of mass at the centre; strokes peak at 255 as in MNIST."""
    h, w = digit.shape
    canvas = np.zeros((SIZE, SIZE), np.float32)
    top, left = (SIZE - h) // 2, (SIZE - w) // 2
    canvas[top:top + h, left:left + w] = digit
    m = cv2.moments(canvas)
    if m["m00"] > 0:
        dx, dy = SIZE / 2 - m["m10"] / m["m00"] - 0.5, SIZE / 2 - m["m01"] / m["m00"] - 0.5
        canvas = cv2.warpAffine(canvas, np.float32([[1, 0, dx], [0, 1, dy]]), (SIZE, SIZE))
    canvas /= max(canvas.max(), 1e-6)
    return np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)


def to_model_input(images):
    """uint8 (N, 28, 28) MNIST-form images -> float32 (N, 28, 28, 1) in 0..1, what every model takes."""
    return (images.astype(np.float32) / 255.0)[..., None]
