"""Generated images that are none of the classes: what training shows the model so that it
learns to answer "none of these" (outlier exposure: the target for these images is the
uniform distribution, so their confidence stays low).

Each kind is a function `(count, rng) -> list of images` drawn as a person would hand them
to `predict` (dark ink on light paper, any size); `make_outliers` brings them to MNIST form
with the same `to_mnist` every image goes through. Letters and symbols are used only when
the classes are the ten digits (for other classes they might be the classes); letters that
some hands write exactly like a digit (O, I, S, Z, B, g, q, ...) are never used.
The evaluation sets in `data_tools/outliers.py` are drawn differently (other fonts, hands,
doodles, scribble process, real photographs), so the benchmark measures what training
never saw.
"""

import cv2
import numpy as np

from digitcli.preprocess import NoInkError, to_mnist

DIGIT_CLASSES = [str(d) for d in range(10)]
DIGIT_LIKE = set("OoQDIilJjSsZzBbgqG")  # letters some hands write exactly like a digit
LETTERS = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in DIGIT_LIKE]
SYMBOLS = list("+*#@&%$?=<>~^{}")  # not ! ( ) [ ] | / \ (a 1) nor dots and commas (specks)
HERSHEY = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
           cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX]
CANVAS = 96
MIN_WIDTH = 8  # pixels of 28: narrower ink is a 1
PAPER, INK = 245, 20


def is_digits(class_names):
    """True when the classes are the ten digits (letters and symbols are outliers then)."""
    return list(class_names) == DIGIT_CLASSES


def paper(side=CANVAS):
    return np.full((side, side), PAPER, np.uint8)


def glyphs(chars):
    """Characters in OpenCV's built-in (Hershey) fonts, any weight, slanted or not."""

    def make(count, rng):
        return [glyph(chars[rng.integers(len(chars))], rng) for _ in range(count)]

    return make


def glyph(char, rng):
    image = paper()
    font = HERSHEY[rng.integers(len(HERSHEY))] | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    cv2.putText(image, char, (22, 72), font, 2.2, INK, int(rng.integers(2, 9)), cv2.LINE_AA)
    return slanted(image, rng)


def printed_digits(count, seed=0):
    """Digits in the same fonts as the letters, with their labels, for digit models to train
    on beside the outliers: so that what makes an outlier is its shape, not the font it is in
    (with them the printed stress set is flagged 1.5% instead of 2.4%; its accuracy is still
    below what it was before outlier exposure: BENCHMARKS.md, "Not a digit")."""
    rng = np.random.default_rng([seed, 22])
    labels = rng.integers(0, 10, count)
    images = [to_mnist(glyph(str(d), rng)) for d in labels]
    return np.array(images, np.uint8).reshape(-1, 28, 28), labels.astype(np.int32)


def slanted(image, rng, degrees=15):
    """Rotated by up to `degrees`, as a hand would."""
    angle = rng.uniform(-degrees, degrees)
    matrix = cv2.getRotationMatrix2D((CANVAS / 2, CANVAS / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (CANVAS, CANVAS), borderValue=PAPER)


def shapes(count, rng):
    """Polygons, stars, crosses, zigzags, grids, spirals: drawn outlines, any pen."""
    out = []
    for _ in range(count):
        image, pen = paper(), int(rng.integers(2, 9))
        kind = rng.integers(6)
        c = np.array([CANVAS / 2, CANVAS / 2])
        if kind == 0:  # polygon, 3-7 corners
            n = rng.integers(3, 8)
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            pts = c + rng.uniform(18, 40, (n, 1)) * np.stack([np.cos(angles), np.sin(angles)], 1)
            cv2.polylines(image, [pts.astype(np.int32)], True, INK, pen, cv2.LINE_AA)
        elif kind == 1:  # star
            n = rng.integers(4, 8)
            angles = np.arange(2 * n) * np.pi / n + rng.uniform(0, np.pi)
            radii = np.where(np.arange(2 * n) % 2, rng.uniform(8, 18), rng.uniform(30, 42))
            pts = c + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
            cv2.polylines(image, [pts.astype(np.int32)], True, INK, pen, cv2.LINE_AA)
        elif kind == 2:  # a cross of two or three bars
            for angle in rng.uniform(0, np.pi, rng.integers(2, 4)):
                d = 40 * np.array([np.cos(angle), np.sin(angle)])
                cv2.line(image, tuple((c - d).astype(int)), tuple((c + d).astype(int)), INK, pen, cv2.LINE_AA)
        elif kind == 3:  # zigzag or wave
            xs = np.linspace(8, CANVAS - 8, rng.integers(4, 12))
            ys = c[1] + rng.uniform(10, 30) * (-1) ** np.arange(len(xs))
            cv2.polylines(image, [np.stack([xs, ys], 1).astype(np.int32)], False, INK, pen, cv2.LINE_AA)
        elif kind == 4:  # grid
            for x in np.linspace(15, 80, rng.integers(2, 5)):
                cv2.line(image, (int(x), 10), (int(x), 86), INK, pen, cv2.LINE_AA)
            for y in np.linspace(15, 80, rng.integers(2, 5)):
                cv2.line(image, (10, int(y)), (86, int(y)), INK, pen, cv2.LINE_AA)
        else:  # spiral
            t = np.linspace(0, rng.uniform(3, 6) * np.pi, 120)
            r = 4 + 36 * t / t[-1]
            pts = c + np.stack([r * np.cos(t), r * np.sin(t)], 1)
            cv2.polylines(image, [pts.astype(np.int32)], False, INK, pen, cv2.LINE_AA)
        out.append(slanted(image, rng, 180))
    return out


def compositions(count, rng):
    """Three to six random parts (rings, arcs, dots, bars) on one sheet: faces, suns and
    other drawings are made of such parts; a digit is not."""
    out = []
    for _ in range(count):
        image, pen = paper(), int(rng.integers(2, 8))
        for _ in range(rng.integers(3, 7)):
            centre = tuple(int(v) for v in rng.uniform(16, CANVAS - 16, 2))
            part = rng.integers(4)
            if part == 0:
                cv2.circle(image, centre, int(rng.integers(4, 30)), INK, pen, cv2.LINE_AA)
            elif part == 1:
                axes = tuple(int(v) for v in rng.integers(6, 30, 2))
                start = float(rng.uniform(0, 360))
                cv2.ellipse(image, centre, axes, 0, start, start + rng.uniform(60, 240), INK, pen, cv2.LINE_AA)
            elif part == 2:
                cv2.circle(image, centre, int(rng.integers(2, 6)), INK, -1, cv2.LINE_AA)
            else:
                end = tuple(int(v) for v in np.add(centre, rng.uniform(-30, 30, 2)))
                cv2.line(image, centre, end, INK, pen, cv2.LINE_AA)
        out.append(image)
    return out


def marked_rings(count, rng):
    """A ring with two to five marks inside it (dots, dashes, arcs) or around it (rays, small
    rings), and sometimes a stem: the family faces, eyes, flowers and suns belong to. A ring
    with nothing in it, or with only a stem, would be a 0, a 6 or a 9: never made."""
    out = []
    for _ in range(count):
        image, pen = paper(), int(rng.integers(2, 7))
        centre = np.array([CANVAS / 2, CANVAS / 2]) + rng.uniform(-6, 6, 2)
        axes = rng.uniform(18, 34, 2)
        cv2.ellipse(image, tuple(int(v) for v in centre), tuple(int(v) for v in axes), float(rng.uniform(0, 180)),
                    0, 360, INK, pen, cv2.LINE_AA)
        inside = rng.random() < 0.6
        for _ in range(rng.integers(2, 6)):
            angle = rng.uniform(0, 2 * np.pi)
            direction = np.array([np.cos(angle), np.sin(angle)])
            if inside:
                at = centre + direction * axes * rng.uniform(0.1, 0.6)
                mark = rng.integers(3)
                if mark == 0:
                    cv2.circle(image, tuple(int(v) for v in at), int(rng.integers(2, 5)), INK, -1, cv2.LINE_AA)
                elif mark == 1:
                    end = at + rng.uniform(-8, 8, 2)
                    cv2.line(image, tuple(int(v) for v in at), tuple(int(v) for v in end), INK, pen, cv2.LINE_AA)
                else:
                    start = float(rng.uniform(0, 360))
                    cv2.ellipse(image, tuple(int(v) for v in at), (int(rng.integers(4, 12)),) * 2, 0, start,
                                start + rng.uniform(60, 180), INK, pen, cv2.LINE_AA)
            else:
                near, far = centre + direction * (axes + 3), centre + direction * (axes + rng.uniform(6, 14))
                if rng.random() < 0.5:
                    cv2.line(image, tuple(int(v) for v in near), tuple(int(v) for v in far), INK, pen, cv2.LINE_AA)
                else:
                    cv2.circle(image, tuple(int(v) for v in (near + far) / 2), int(rng.integers(3, 8)), INK, pen,
                               cv2.LINE_AA)
        if rng.random() < 0.3:  # a stem, as flowers and balloons have
            cv2.line(image, (int(centre[0]), int(centre[1] + axes[1])), (int(centre[0] + rng.uniform(-6, 6)), CANVAS - 2),
                     INK, pen, cv2.LINE_AA)
        out.append(image)
    return out


def scribbles(count, rng):
    """Chains of random Bezier curves: tangles a pen leaves when it is not writing."""
    out = []
    t = np.linspace(0, 1, 24)[:, None]
    for _ in range(count):
        image, pen = paper(), int(rng.integers(2, 9))
        points = [rng.uniform(10, CANVAS - 10, 2)]
        curve = []
        for _ in range(rng.integers(2, 7)):
            p1, p2, p3 = rng.uniform(10, CANVAS - 10, (3, 2))
            p0 = points[-1]
            curve.append((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3)
            points.append(p3)
        cv2.polylines(image, [np.concatenate(curve).astype(np.int32)], False, INK, pen, cv2.LINE_AA)
        out.append(image)
    return out


def textures(count, rng):
    """Patches of clutter: smooth noise at several scales, blobs and bars, thresholded or not."""
    out = []
    for _ in range(count):
        side = int(rng.integers(4, 24))
        noise = cv2.resize(rng.random((side, side), np.float32), (CANVAS, CANVAS), interpolation=cv2.INTER_CUBIC)
        noise += 0.5 * cv2.resize(rng.random((48, 48), np.float32), (CANVAS, CANVAS))
        if rng.random() < 0.5:
            noise = (noise > np.quantile(noise, rng.uniform(0.5, 0.9))).astype(np.float32)
        low, high = noise.min(), noise.max()
        out.append((PAPER - (noise - low) / max(high - low, 1e-6) * (PAPER - INK)).astype(np.uint8))
    return out


KINDS = {"letters": glyphs(LETTERS), "symbols": glyphs(SYMBOLS), "shapes": shapes, "compositions": compositions,
         "marked rings": marked_rings, "scribbles": scribbles, "textures": textures}
GENERIC = ("shapes", "compositions", "marked rings", "scribbles", "textures")  # for classes other than the digits


SHARE = 0.1  # outliers generated for training, as a share of the training images
PRINTED_SHARE = 0.02  # printed digits added for digit models, as a share of the training images
REPEATS = 2  # each epoch mixes them in this many times, each copy augmented on its own
HELD_OUT = 2000  # more of them, generated apart, to report how many the fitted threshold flags


def outlier_count(training_images, share=SHARE):
    """How many outliers are generated for a training set of this size."""
    return int(round(share * training_images))


def printed_count(training_images, class_names, outlier_share):
    """How many printed digits join a training set of this size (none for other classes, or
    when no outliers are used)."""
    return int(round(PRINTED_SHARE * training_images)) if is_digits(class_names) and outlier_share > 0 else 0


def kinds_for(class_names):
    """The kinds of outliers a model with these classes is shown."""
    return list(KINDS) if is_digits(class_names) else list(GENERIC)


def make_outliers(count, class_names, seed=0):
    """Exactly `count` outliers in MNIST form (uint8, (count, 28, 28)), the kinds in about
    equal shares."""
    kinds = kinds_for(class_names)
    rng = np.random.default_rng([seed, 21])
    made, total = [np.zeros((0, 28, 28), np.uint8)], 0
    while total < count:
        for kind in kinds:
            made.append(in_mnist_form(KINDS[kind](-(-(count - total) // len(kinds)) + 1, rng)))
        total = sum(len(m) for m in made)
    images = np.concatenate(made)
    return images[rng.permutation(len(images))[:count]]


def in_mnist_form(images, drop_thin=True, dropped=None):
    """to_mnist of each image; dropped: images without ink (a texture can come out blank)
    and, with `drop_thin`, thin upright ones, which are what a 1 is. `dropped`, a dict with
    keys "no ink" and "thin bar (a 1)", counts them."""
    dropped = {"no ink": 0, "thin bar (a 1)": 0} if dropped is None else dropped
    out = []
    for image in images:
        try:
            digit = to_mnist(image)
        except NoInkError:
            dropped["no ink"] += 1
            continue
        if drop_thin and is_thin(digit):
            dropped["thin bar (a 1)"] += 1
        else:
            out.append(digit)
    return np.array(out, np.uint8).reshape(-1, 28, 28)


def is_thin(digit):
    """True when an MNIST-form image's ink is an upright bar narrower than MIN_WIDTH: a 1."""
    columns = np.flatnonzero(digit.max(0) > 127)
    return not len(columns) or columns[-1] - columns[0] < MIN_WIDTH
