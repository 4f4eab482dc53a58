"""Stress sets: the digits people really make, built from MNIST *test* digits and fonts.

Each set is a function `(digits, labels, rng) -> (images, labels)` whose images are what a
user would hand to `predict` (any size, gray, BGR or BGRA, dark on light or light on dark).
Used by `make bench` (accuracy per set, over seeds) and, on a few digits, by the tests.
"""

import hashlib
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from data_tools.strokes import trace
from digitcli.preprocess import to_uint8

FAITHFUL = 0.95  # a traced digit is used only if its strokes cover this share of the original's ink
CANVAS = 280
DIGIT_HEIGHT = 200  # pixels of a traced digit on the canvas (its 20-pixel MNIST box, scaled)
PEN_WIDTHS = (1, 3, 6, 10, 16, 23, 30)  # hairline to a marker 15% of the digit's height


def draw_strokes(strokes, width, canvas=(CANVAS, CANVAS), scale=DIGIT_HEIGHT / 20, offset=None):
    """Ink (0..1 float, 1 = ink) of polylines in MNIST pixel coordinates, drawn with a round pen."""
    h, w = canvas
    ink = np.zeros((h, w), np.uint8)
    if offset is None:
        offset = ((w - 28 * scale) / 2, (h - 28 * scale) / 2)
    shift = 4  # sub-pixel precision for cv2's drawing
    thickness = max(1, int(round(width)))
    for stroke in strokes:
        points = np.array([[(offset[0] + scale * x) * 2 ** shift, (offset[1] + scale * y) * 2 ** shift]
                           for x, y in stroke], np.int32)
        if len(points) == 1:
            cv2.circle(ink, tuple(points[0]), max(1, thickness // 2) * 2 ** shift, 255, -1, cv2.LINE_AA, shift)
        else:
            cv2.polylines(ink, [points], False, 255, thickness, cv2.LINE_AA, shift)
    return ink.astype(np.float32) / 255


def on_paper(ink, paper=0.97, colour=0.08):
    """Dark ink on light paper, uint8 gray."""
    return to_uint8(paper - ink * (paper - colour))


def faithful_traces(digits, labels):
    """(strokes, label) of the digits whose trace keeps their shape: redrawn at MNIST's width,
    the strokes cover at least FAITHFUL of the original's ink (1 pixel of slack). A thick
    digit with filled loops traces to another shape (an 8 to a 1), which no pen width can fix."""
    return [(strokes, labels[i]) for i, strokes in traced(digits)]


def traced(digits):
    """[(index, strokes)] of the digits that keep their shape when traced. Four sets trace the
    same digits: the traces are kept for the next call."""
    key = hashlib.sha1(digits.tobytes()).hexdigest()
    if key not in TRACED:
        traces = [trace(digit) for digit in digits]
        TRACED.clear()
        TRACED[key] = [(i, strokes) for i, (strokes, digit) in enumerate(zip(traces, digits))
                       if keeps_shape(strokes, digit)]
    return TRACED[key]


TRACED = {}  # the last digits' faithful traces, by the digits' content


def keeps_shape(strokes, digit):
    """True when `strokes` redrawn at MNIST's width cover FAITHFUL of the digit's ink."""
    redrawn = cv2.dilate(draw_strokes(strokes, 2.5, canvas=(28, 28), scale=1, offset=(0, 0)), np.ones((3, 3)))
    return (redrawn[digit > 100] > 0.3).mean() >= FAITHFUL


def pen_widths(digits, labels, rng):
    """Each digit traced and redrawn with one of PEN_WIDTHS (cycling), dark on white."""
    traced = faithful_traces(digits, labels)
    images = [on_paper(draw_strokes(strokes, PEN_WIDTHS[i % len(PEN_WIDTHS)])) for i, (strokes, _) in enumerate(traced)]
    return images, np.array([label for _, label in traced])


def canvas_placement(digits, labels, rng):
    """Traced digits 30-400 pixels tall anywhere on an 800x600 canvas, pen 6% of the height."""
    traced, images = faithful_traces(digits, labels), []
    for strokes, _ in traced:
        height = rng.uniform(30, 400)
        scale = height / 20
        left, top = rng.uniform(-4 * scale, 800 - 24 * scale), rng.uniform(-4 * scale, 600 - 24 * scale)
        ink = draw_strokes(strokes, max(1.0, 0.06 * height), canvas=(600, 800), scale=scale, offset=(left, top))
        images.append(on_paper(ink))
    return images, np.array([label for _, label in traced])


def transparent(digits, labels, rng):
    """Canvas exports: BGRA, coloured or black ink where alpha is, transparent (and black) elsewhere."""
    traced, images = faithful_traces(digits, labels), []
    for i, (strokes, _) in enumerate(traced):
        ink = draw_strokes(strokes, PEN_WIDTHS[2 + i % 3])
        colour = np.array([(20, 20, 20), (200, 80, 20), (30, 30, 200)][i % 3], np.float32)
        bgr = (ink[..., None] * colour).astype(np.uint8)  # premultiplied-looking: black under transparency
        images.append(np.dstack([bgr, to_uint8(ink)]))
    return images, np.array([label for _, label in traced])


def dark_on_light(digits, labels, rng):
    """The MNIST digit itself, inverted (black on white), scaled up 2-6x, on a larger sheet."""
    images = []
    for d in digits:
        size = int(28 * rng.uniform(2, 6))
        big = cv2.resize(d, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
        sheet = np.zeros((size + 60, size + 60), np.float32)
        sheet[30:30 + size, 30:30 + size] = np.clip(big, 0, 1)
        images.append(on_paper(sheet, paper=rng.uniform(0.85, 1.0)))
    return images, labels


def light_on_dark(digits, labels, rng):
    """Chalk on a board: light strokes on a dark, not black, background, scaled up 2-6x."""
    images = []
    for d in digits:
        size = int(28 * rng.uniform(2, 6))
        big = np.clip(cv2.resize(d, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255, 0, 1)
        board, chalk = rng.uniform(0.1, 0.3), rng.uniform(0.75, 0.95)
        sheet = np.full((size + 60, size + 60), board, np.float32)
        sheet[30:30 + size, 30:30 + size] = board + big * (chalk - board)
        images.append(to_uint8(sheet + rng.normal(0, 0.02, sheet.shape)))
    return images, labels


def photographed(digits, labels, rng):
    """A phone photo of paper: uneven light, a shadow, slight perspective, noise, JPEG."""
    traced, images = faithful_traces(digits, labels), []
    for strokes, _ in traced:
        ink = draw_strokes(strokes, rng.uniform(8, 18), canvas=(320, 320), scale=rng.uniform(8, 11))
        page = 0.92 - ink * 0.8
        yy, xx = np.mgrid[0:320, 0:320].astype(np.float32) / 320
        angle = rng.uniform(0, 2 * np.pi)
        light = 0.75 + 0.25 * (np.cos(angle) * xx + np.sin(angle) * yy)  # brighter towards one side
        shadow = np.zeros((320, 320), np.float32)
        cx, cy = rng.uniform(0, 320, 2)
        cv2.circle(shadow, (int(cx), int(cy)), int(rng.uniform(60, 140)), 1.0, -1)
        shadow = cv2.GaussianBlur(shadow, (0, 0), 25)
        photo = page * light * (1 - 0.35 * shadow)
        corners = np.float32([[0, 0], [320, 0], [320, 320], [0, 320]])
        moved = corners + rng.uniform(-16, 16, (4, 2)).astype(np.float32)
        warp = cv2.getPerspectiveTransform(corners, moved)
        photo = cv2.warpPerspective(photo, warp, (320, 320), borderMode=cv2.BORDER_REPLICATE)
        photo = cv2.GaussianBlur(photo, (0, 0), 0.8) + rng.normal(0, 0.025, photo.shape)
        rgb = cv2.cvtColor(to_uint8(photo), cv2.COLOR_GRAY2BGR)
        jpeg = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 80))])[1]
        images.append(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
    return images, np.array([label for _, label in traced])


PAPER_BGR = (236, 241, 244)  # a slightly warm white
LINE_COLOURS = [(225, 195, 150), (215, 205, 185), (190, 215, 190), (220, 190, 210), (185, 185, 185)]  # BGR
MARGIN_COLOURS = [(90, 90, 225), (150, 120, 235), (120, 170, 240)]  # red, pink, orange-ish
INK_COLOURS = [(140, 50, 25), (35, 35, 35), (110, 110, 110), (90, 30, 30)]  # blue and black ballpoint, pencil, navy


def notebook(squared):
    """Digits written with a ballpoint or pencil on ruled (or squared) notebook paper:
    coloured lines of several spacings running under and through the ink, often a red or
    coloured margin line, then photographed (uneven light, slight rotation, blur, JPEG)."""

    def make(digits, labels, rng):
        traced, images = faithful_traces(digits, labels), []
        side = 320
        for strokes, _ in traced:
            height = rng.uniform(150, 230)  # the digit's 20-pixel MNIST box, on the page
            ink = draw_strokes(strokes, rng.uniform(5, 12), canvas=(side, side), scale=height / 20)
            page = np.empty((side, side, 3), np.float32)
            page[:] = np.array(PAPER_BGR, np.float32) / 255
            lines = np.zeros((side, side), np.uint8)
            colour = np.array(LINE_COLOURS[rng.integers(len(LINE_COLOURS))], np.float32) / 255
            spacing = height * (rng.uniform(0.25, 0.45) if squared else rng.uniform(0.4, 0.9))
            width = int(rng.integers(1, 4))
            for at in np.arange(rng.uniform(0, spacing), side, spacing):
                cv2.line(lines, (0, int(at)), (side, int(at)), 255, width, cv2.LINE_AA)
                if squared:
                    cv2.line(lines, (int(at), 0), (int(at), side), 255, width, cv2.LINE_AA)
            page = blend(page, lines, colour)
            if rng.random() < 0.7:  # a margin line, anywhere: beside the digit or through it
                margin = np.zeros((side, side), np.uint8)
                x = int(rng.uniform(0.1, 0.9) * side)
                cv2.line(margin, (x, 0), (x, side), 255, int(rng.integers(2, 5)), cv2.LINE_AA)
                page = blend(page, margin, np.array(MARGIN_COLOURS[rng.integers(len(MARGIN_COLOURS))], np.float32) / 255)
            page = blend(page, to_uint8(ink), np.array(INK_COLOURS[rng.integers(len(INK_COLOURS))], np.float32) / 255)
            images.append(photograph(page, rng))
        return images, np.array([label for _, label in traced])

    return make


def blend(page, coverage, colour):
    """Paint `colour` over `page` where `coverage` (uint8) says, as ink or print on paper."""
    alpha = (coverage.astype(np.float32) / 255)[..., None]
    return page * (1 - alpha) + colour * alpha


def photograph(page, rng):
    """A phone photo of a BGR page (0..1): light from one side, slight rotation, blur, noise, JPEG."""
    side = page.shape[0]
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    angle = rng.uniform(0, 2 * np.pi)
    light = 0.78 + 0.22 * (np.cos(angle) * xx + np.sin(angle) * yy)
    photo = page * light[..., None]
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-5, 5), 1.0)
    photo = cv2.warpAffine(photo, turn, (side, side), borderMode=cv2.BORDER_REFLECT)
    photo = cv2.GaussianBlur(photo, (0, 0), rng.uniform(0.5, 1.2)) + rng.normal(0, 0.02, photo.shape)
    jpeg = cv2.imencode(".jpg", to_uint8(photo), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 85))])[1]
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def low_resolution(digits, labels, rng):
    """Digits shrunk until the digit is 8-16 pixels tall, then scaled back up 4x: blurry."""
    images = []
    for d in digits:
        height = rng.uniform(8, 16)
        side = max(6, int(round(28 * height / 20)))
        small = cv2.resize(d, (side, side), interpolation=cv2.INTER_AREA)
        images.append(255 - cv2.resize(small, (4 * side, 4 * side), interpolation=cv2.INTER_CUBIC))
    return images, labels


def canvas_brushes(digits, labels, rng):
    """What the drawing page gets: traced digits 80-240 pixels tall anywhere on its 280x280
    canvas, with round brushes of every width its slider offers (2-45 pixels, at most 30% of
    the digit's height: a small digit with a fat marker)."""
    traced, images = faithful_traces(digits, labels), []
    for strokes, _ in traced:
        height = rng.uniform(80, 240)
        scale = height / 20
        left, top = rng.uniform(-4 * scale, CANVAS - 24 * scale), rng.uniform(-4 * scale, CANVAS - 24 * scale)
        width = min(rng.uniform(2, 45), 0.3 * height)
        images.append(on_paper(draw_strokes(strokes, width, scale=scale, offset=(left, top))))
    return images, np.array([label for _, label in traced])


def other_writers(digits, labels, rng):
    """Digits of 43 other writers (UCI's optical recognition set, scikit-learn's `load_digits`:
    8x8, 17 grey levels, the digit filling the frame), with a 2-pixel margin of paper and
    enlarged 4x (48x48) as an app would send a low-resolution scan; `digits` and `labels` are
    ignored (the set has its own, 1,797)."""
    from sklearn.datasets import load_digits

    scans = load_digits()
    images = [255 - cv2.resize(np.pad(np.uint8(np.round(image * 255 / 16)), 2), (48, 48), interpolation=cv2.INTER_CUBIC)
              for image in scans.images]
    return images, scans.target


FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"  # fonts every install of matplotlib ships
FONTS = {  # serif and sans, regular, bold and italic; "1" with a foot (serifs) and without (cmss10)
    "DejaVu Sans": "DejaVuSans.ttf", "DejaVu Sans Bold": "DejaVuSans-Bold.ttf",
    "DejaVu Sans Oblique": "DejaVuSans-Oblique.ttf", "DejaVu Sans Mono": "DejaVuSansMono.ttf",
    "DejaVu Serif": "DejaVuSerif.ttf", "DejaVu Serif Bold": "DejaVuSerif-Bold.ttf",
    "DejaVu Serif Italic": "DejaVuSerif-Italic.ttf", "STIX": "STIXGeneral.ttf", "STIX Bold": "STIXGeneralBol.ttf",
    "STIX Italic": "STIXGeneralItalic.ttf", "Computer Modern": "cmr10.ttf", "Computer Modern Sans": "cmss10.ttf",
    "Computer Modern Typewriter": "cmtt10.ttf",
}


def render_glyph(text, font_file, size_px):
    """Ink (0..1) of `text` in a font, tightly framed with a margin."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT_DIR / font_file), size_px)
    left, top, right, bottom = font.getbbox(text)
    margin = size_px // 4
    image = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), 0)
    ImageDraw.Draw(image).text((margin - left, margin - top), text, fill=255, font=font)
    return np.asarray(image, np.float32) / 255


def printed(digits, labels, rng):
    """Every digit in every font at three sizes, plus a barred 7 and an open 4 in each font;
    `digits` and `labels` are ignored (the set has its own)."""
    images, out = [], []
    for font_file in FONTS.values():
        for size in (32, 64, 128):
            for digit in range(10):
                ink = render_glyph(str(digit), font_file, size)
                images.append(on_paper(ink))
                out.append(digit)
                if digit == 7:  # the continental 7, a bar across its stem
                    images.append(on_paper(barred_seven(ink)))
                    out.append(7)
            images.append(on_paper(open_four(size)))
            out.append(4)
    return images, np.array(out)


def barred_seven(ink):
    """A printed 7 with a short horizontal bar across the middle of its stem."""
    rows, cols = np.nonzero(ink > 0.5)
    middle = int(np.median(rows))
    stem = cols[np.abs(rows - middle) <= 1]
    width = max(2, int(0.09 * (rows.max() - rows.min())))
    centre = int(np.median(stem)) if len(stem) else ink.shape[1] // 2
    half = int(0.28 * (cols.max() - cols.min()))
    out = ink.copy()
    cv2.line(out, (centre - half, middle), (centre + half, middle), 1.0, width, cv2.LINE_AA)
    return out


def open_four(size):
    """A 4 whose two upper strokes do not meet, drawn with a constant-width pen."""
    s = size / 10
    strokes = [[(3.0, 0.5), (1.0, 6.5), (8.5, 6.5)], [(6.0, 2.5), (6.0, 10.5)]]
    canvas = (int(13 * s), int(11 * s))
    return draw_strokes(strokes, max(2, 0.9 * s), canvas=canvas, scale=s, offset=(s, s))


SETS = {
    "pen widths": pen_widths, "canvas placement": canvas_placement, "transparent": transparent,
    "dark on light": dark_on_light, "light on dark": light_on_dark, "photographed": photographed,
    "low resolution": low_resolution, "printed": printed,
    "ruled notebook": notebook(squared=False), "squared notebook": notebook(squared=True),
    "canvas brushes": canvas_brushes, "other writers 8x8": other_writers,
}


TRACED_SETS = ("pen widths", "canvas placement", "transparent", "photographed", "ruled notebook", "squared notebook",
               "canvas brushes")
OWN_DIGITS = ("printed", "other writers 8x8")  # sets with digits of their own, not MNIST's


def make_set(name, digits, labels, seed=0):
    """The images and labels of stress set `name` made from MNIST test digits."""
    return SETS[name](digits, labels, np.random.default_rng(seed))


def sources(name, digits):
    """The index in `digits` of the digit behind each image of set `name` (None for the sets
    with digits of their own)."""
    if name in OWN_DIGITS:
        return None
    if name in TRACED_SETS:
        return np.array([i for i, _ in traced(digits)])
    return np.arange(len(digits))
