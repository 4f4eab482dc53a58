"""Outlier sets: images that are not digits, for measuring how often a model says so.

Kept apart from what training shows the model (`digitcli.outliers`: Hershey fonts, random
polygons and Bezier scribbles, smooth-noise textures): these use TrueType fonts, letters
traced and redrawn by a jittery "hand", doodles (faces, hearts, houses, ...), random-walk
scribbles and crops of real photographs. Each set is `(count, rng) -> images` as a user
would hand them to `predict` (dark on light, any size). Letters written like a digit in
some hands (`digitcli.outliers.DIGIT_LIKE`) are left out: they are digits to the reader too.
"""

from pathlib import Path

import cv2
import matplotlib
import numpy as np

from data_tools.stress import FONTS, draw_strokes, on_paper, render_glyph
from data_tools.strokes import trace
from digitcli.outliers import LETTERS
from digitcli.preprocess import NoInkError, to_mnist

SYMBOLS = list("★☺♥♠♣♦✓✗€£¥§¶©®∞≈≠±√∑πΩµ☼♪")  # all in DejaVu
SYMBOL_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")  # DejaVu Serif lacks some of them


def letters_in_fonts(count, rng):
    """Letters in matplotlib's TrueType fonts (DejaVu, STIX, Computer Modern) at 32-128 px."""
    fonts = list(FONTS.values())
    return [on_paper(render_glyph(LETTERS[rng.integers(len(LETTERS))], fonts[rng.integers(len(fonts))],
                                  int(rng.integers(32, 129)))) for _ in range(count)]


def letters_by_hand(count, rng):
    """Font letters traced into strokes and redrawn by a wobbly hand: slant, jitter, any pen."""
    fonts = list(FONTS.values())
    out = []
    while len(out) < count:
        ink = render_glyph(LETTERS[rng.integers(len(LETTERS))], fonts[rng.integers(len(fonts))], 96)
        try:
            strokes = trace(to_mnist(on_paper(ink)))
        except NoInkError:
            continue
        out.append(on_paper(draw_strokes(wobbly(strokes, rng), rng.uniform(6, 26))))
    return out


def wobbly(strokes, rng, jitter=0.45, slant=0.25):
    """Strokes as a hand redraws them: sheared, every point moved a little, smoothly."""
    shear = rng.uniform(-slant, slant)
    out = []
    for stroke in strokes:
        points = np.array(stroke, np.float64)
        noise = rng.normal(0, jitter, points.shape)
        if len(points) > 2:
            noise = cv2.GaussianBlur(noise[None], (1, 5), 0)[0]
        points = points + noise
        points[:, 0] += shear * (points[:, 1] - 14)
        out.append([tuple(p) for p in points])
    return out


def symbols_and_doodles(count, rng):
    """Half symbols in TrueType fonts (stars, hearts, currency, maths), half doodles by hand."""
    out = []
    for i in range(count):
        if i % 2:
            symbol = SYMBOLS[rng.integers(len(SYMBOLS))]
            out.append(on_paper(render_glyph(symbol, SYMBOL_FONTS[rng.integers(len(SYMBOL_FONTS))],
                                             int(rng.integers(40, 129)))))
        else:
            doodle = DOODLES[rng.integers(len(DOODLES))](rng)
            out.append(on_paper(draw_strokes(wobbly(doodle, rng, jitter=0.25), rng.uniform(6, 22))))
    return out


def arc(cx, cy, r, start, end, n=24, ry=None):
    t = np.linspace(np.deg2rad(start), np.deg2rad(end), n)
    return list(zip(cx + r * np.cos(t), cy + (ry or r) * np.sin(t)))


def smiley(rng):
    return [arc(14, 14, 9, 0, 360), arc(11, 11, 0.8, 0, 360, 8), arc(17, 11, 0.8, 0, 360, 8),
            arc(14, 15, 5, 20 + rng.uniform(0, 20), 160 - rng.uniform(0, 20))]


def heart(rng):
    t = np.linspace(0, 2 * np.pi, 60)
    x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return [list(zip(14 + 0.55 * x, 13 - 0.55 * y))]


def house(rng):
    roof = rng.uniform(3, 8)
    return [[(6, 24), (6, 12), (14, roof), (22, 12), (22, 24), (6, 24)], [(12, 24), (12, 18), (16, 18), (16, 24)]]


def sun(rng):
    rays = [[(14 + 6 * np.cos(a), 14 + 6 * np.sin(a)), (14 + 11 * np.cos(a), 14 + 11 * np.sin(a))]
            for a in np.linspace(0, 2 * np.pi, int(rng.integers(6, 11)), endpoint=False)]
    return [arc(14, 14, 4, 0, 360)] + rays


def stick_figure(rng):
    return [arc(14, 6, 3, 0, 360), [(14, 9), (14, 18)], [(8, 12), (20, 12)], [(14, 18), (9, 25)], [(14, 18), (19, 25)]]


def fish(rng):
    return [arc(12, 14, 8, 30, 330, ry=5), [(18.9, 11.5), (25, 8), (25, 20), (18.9, 16.5)], arc(8, 13, 0.7, 0, 360, 8)]


def cloud(rng):
    bumps = arc(8, 16, 4, 90, 270) + arc(12, 11, 4, 180, 330) + arc(18, 10, 5, 200, 340) + arc(23, 15, 4, 250, 450)
    return [bumps + [(23, 19), (8, 20)]]


def flower(rng):
    petals = [arc(14 + 5 * np.cos(a), 12 + 5 * np.sin(a), 2.5, 0, 360, 12) for a in np.linspace(0, 2 * np.pi, 6)]
    return petals + [[(14, 17), (14, 27)]]


def eye(rng):
    return [arc(14, 18, 10, 200, 340, ry=8), arc(14, 10, 10, 20, 160, ry=8), arc(14, 14, 3, 0, 360)]


DOODLES = [smiley, heart, house, sun, stick_figure, fish, cloud, flower, eye]  # no lollipop tree: a 9


def random_walks(count, rng):
    """Scribbles from a random walk with momentum: tangles of loops and knots, any pen."""
    out = []
    for _ in range(count):
        steps = int(rng.integers(80, 240))
        turn = np.cumsum(rng.normal(0, rng.uniform(0.5, 1.2), steps))
        xy = np.cumsum(np.stack([np.cos(turn), np.sin(turn)], 1), 0)
        xy = (xy - xy.min(0)) / max(np.ptp(xy), 1e-6) * 20 + 4
        out.append(on_paper(draw_strokes([[tuple(p) for p in xy]], rng.uniform(4, 24))))
    return out


PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "horse.png", "rocket.jpg",
          "motorcycle_left.png", "coins.png", "moon.png", "page.png", "text.png", "brick.png", "grass.png",
          "gravel.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "cell.png")


def photographs():
    """Gray photographs shipped inside scikit-image and matplotlib (people, animals, objects, scenes)."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    images = [cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE) for name in PHOTOS]
    images.append(cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"),
                             cv2.IMREAD_GRAYSCALE))
    return [image for image in images if image is not None]


def photo_crops(count, rng):
    """Square crops of real photographs, 32 to 256 pixels, anywhere in the picture."""
    photos = photographs()
    out = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(32, min(257, *photo.shape[:2])))
        y, x = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        out.append(np.ascontiguousarray(photo[y:y + side, x:x + side]))
    return out


SETS = {"letters in fonts": letters_in_fonts, "letters by hand": letters_by_hand,
        "symbols and doodles": symbols_and_doodles, "scribbles": random_walks, "photo crops": photo_crops}


def make_set(name, count, seed=0):
    """`count` images of outlier set `name`, as a user would send them."""
    return SETS[name](count, np.random.default_rng([seed, 7]))
