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
BACKGROUND_SIDE = 128  # the background is estimated on a copy this many pixels on its longer side
WIDTH_SIDE = 80  # stroke widths are measured and changed with the digit this many pixels on its longer side
TYPICAL_WIDTH = 8.8  # MNIST's median stroke width at that size
SPECK = 0.02  # ink pieces smaller than this share of the largest piece are noise
UNEVEN = 0.08  # a background (or frame) whose brightness spreads more than this is lit unevenly
FLAT = 0.02  # paper (or ink) whose brightness spreads less than this is lit evenly
WORK_SIDE = 1024  # larger images (phone photos) are reduced to this many pixels on their longer side first
RULING_SPAN = 0.9  # a paper's printed lines run across this share of the image, at least; a digit's strokes do not
RULING_TILT = 10  # degrees from horizontal or vertical a photographed line may be turned
RULING_LEVEL = 0.08  # faint ink counts when looking for lines: printed lines are faint
RULING_WIDTH = 0.03  # the band cleared along each line, as a share of the image's shorter side
RULING_MIN_SIDE = 128  # smaller images are not looked at for lines (a photo of a page is larger)
RULING_SEARCH_SIDE = 256  # pixels on the longer side of the copy lines are looked for on
RULING_KEEP = 1.4  # within the band, ink this many times darker than the line is a stroke crossing it
RULING_QUANTILE = 25  # a line's darkness: this percentile along it (a stroke may run along up to 3/4 of it)


class NoInkError(ValueError):
    """The image holds no stroke that stands out from its background."""


def to_mnist(image):
    """Return a 28x28 uint8 image (ink light on dark) from an OpenCV-loaded array."""
    if mnist_sized(image) and dark_frame(image):
        if is_blank(image[None])[0]:
            raise NoInkError("no ink found (blank or uniform image)")
        return image
    if image.dtype not in (np.uint8, np.uint16, np.float32):  # what OpenCV resizes and converts
        image = image.astype(np.float32)
    gray = to_gray(at_most(image, WORK_SIDE))
    even = max(gray.shape) >= BACKGROUND_SIDE and two_toned(gray)  # no uneven light, whatever the frame says
    dark = ink_is_dark(gray, even)
    if dark:
        gray = 1.0 - gray
    paper = border_level(gray) if even else paper_level(gray)
    ink = gray - paper
    if dark and np.ndim(paper):  # paper under uneven light: ink contrast scales with the light falling on it
        ink = ink * (1.0 - paper.min()) / np.maximum(1.0 - paper, 0.05)
    peak = ink.max()
    if peak < MIN_CONTRAST:
        raise NoInkError("no ink found (blank or uniform image)")
    ink = without_ruling(np.clip(ink / peak, 0.0, 1.0))
    level = otsu_level(ink)
    left, top, width, height = cv2.boundingRect(ink_mask(ink, level))
    ink = cv2.threshold(ink, 0.5 * level, 0, cv2.THRESH_TOZERO)[1]  # drop faint background noise, keep anti-aliasing
    digit = ink[top:top + height, left:left + width]
    return centre_by_mass(fit_box(typical_width(digit)))


def without_ruling(ink):
    """Ink (0..1) with the paper's printed lines taken out: straight lines within RULING_TILT
    of horizontal or vertical that run across the whole image (ruled and squared notebook
    paper, margin lines). A digit's strokes are shorter, and in the band along a line only
    ink about as faint as the line goes: a darker stroke crossing it or running along it
    stays. If nothing but lines was there, the ink comes back as it was."""
    side = min(ink.shape)
    if side < RULING_MIN_SIDE:
        return ink
    scale = min(1.0, RULING_SEARCH_SIDE / max(ink.shape))  # lines are looked for on a smaller copy
    small = cv2.resize(ink, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else ink
    mask = (small > RULING_LEVEL).astype(np.uint8) * 255
    span = int(RULING_SPAN * min(small.shape))
    if not may_hold_line(mask, span):
        return ink
    found = paper_lines(mask, span)
    if not found:
        return ink
    cleaned = ink.copy()
    width = max(3, int(RULING_WIDTH * side))
    peak = cv2.dilate(ink, np.ones((width, width), np.uint8))  # a line's darkest, if found a pixel or two off
    for x1, y1, x2, y2 in (np.array(found) / scale).round().astype(int).tolist():
        centre, band = np.zeros(ink.shape, np.uint8), np.zeros(ink.shape, np.uint8)
        cv2.line(centre, (x1, y1), (x2, y2), 255, 1)
        cv2.line(band, (x1, y1), (x2, y2), 255, width)
        level = np.percentile(peak[centre > 0], RULING_QUANTILE)  # the line's own darkness, where no stroke is
        cleaned[(band > 0) & (ink <= max(RULING_KEEP * level, level + 0.15))] = 0.0  # darker strokes stay
    if cleaned.max() < MIN_CONTRAST:
        return ink
    return cleaned / cleaned.max()


def paper_lines(mask, span):
    """(x1, y1, x2, y2) of the straight lines in `mask` within RULING_TILT of horizontal or
    vertical that are at least `span` long. A photographed line is blurred and slightly turned,
    so the Hough transform finds it in collinear pieces: pieces of half that length or more
    whose directions (within 2 degrees) and offsets (within the band cleared) agree are joined.
    A shorter line that runs from edge to edge of the image, where it cuts a corner of a turned
    page, counts when it is parallel to one that runs across it."""
    found = cv2.HoughLinesP(mask, 1, np.pi / 360, threshold=span // 4, minLineLength=span // 2,
                            maxLineGap=max(2, span // 27))
    if found is None:
        return []
    centre = np.array(mask.shape[::-1], np.float64) / 2
    pieces = sorted((p for p in (line_piece(segment, centre) for segment in found.reshape(-1, 4)) if p),
                    key=lambda piece: piece[:2])
    near = max(3.0, RULING_WIDTH * min(mask.shape))
    lines, joined = [], set()
    for i, (angle, offset, _) in enumerate(pieces):
        if i in joined:
            continue
        group = [j for j, (a, o, _) in enumerate(pieces) if abs(a - angle) <= 2 and abs(o - offset) <= near]
        joined.update(group)
        along = np.concatenate([pieces[j][2] for j in group])
        mean_angle = float(np.mean([pieces[j][0] for j in group]))
        direction = unit(mean_angle)
        base = centre + np.mean([pieces[j][1] for j in group]) * np.array([-direction[1], direction[0]])
        ends = np.concatenate([base + along.min() * direction, base + along.max() * direction])
        lines.append((mean_angle, along.max() - along.min(), ends))
    across = [angle for angle, length, _ in lines if length >= span]
    return [tuple(ends) for angle, length, ends in lines
            if length >= span or (any(abs(angle - a) <= 2 for a in across) and edge_to_edge(ends, mask.shape, near))]


def edge_to_edge(ends, shape, near):
    """True when both ends of the line (x1, y1, x2, y2) lie within `near` pixels of the image's edges."""
    h, w = shape
    return all(min(x, y, w - 1 - x, h - 1 - y) <= near for x, y in (ends[:2], ends[2:]))


def line_piece(segment, centre):
    """(angle in degrees, offset from `centre`, the ends' positions along it) of a Hough
    segment within RULING_TILT of horizontal (angle near 0) or vertical (near 90); else None."""
    x1, y1, x2, y2 = segment.astype(np.float64)
    angle = np.degrees(np.arctan2(y2 - y1, x2 - x1)) % 180  # 0..180: both ends give the same
    if angle > 90 + RULING_TILT:
        angle -= 180  # near-horizontal lines turned either way stay near 0
    if RULING_TILT < abs(angle) < 90 - RULING_TILT:
        return None
    direction = unit(angle)
    ends = np.array([[x1, y1], [x2, y2]]) - centre
    return float(angle), float(ends[0] @ np.array([-direction[1], direction[0]])), ends @ direction


def unit(degrees):
    return np.array([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))])


def may_hold_line(mask, span):
    """False when `paper_lines` cannot find a line in `mask`: one of `span` pixels within
    RULING_TILT of horizontal or vertical spans at least span x cos(RULING_TILT) columns (or
    rows) of ink, less the spread of pieces joined. The search costs milliseconds; a digit
    drawn on a blank canvas skips it."""
    least = span * np.cos(np.radians(RULING_TILT)) - max(3.0, RULING_WIDTH * min(mask.shape))
    return any(extent(mask.any(axis)) >= least for axis in (0, 1))


def extent(occupied):
    """Pixels from the first True of a row (or column) flag vector to its last, both included."""
    where = np.flatnonzero(occupied)
    return where[-1] - where[0] + 1 if len(where) else 0


def is_blank(images):
    """True for each MNIST-form image (N, 28, 28) whose brightest pixel is no ink: the one
    definition of blank that to_mnist, training, evaluate and inspect share."""
    return images.max((1, 2)) < MIN_CONTRAST * 255


def to_gray(image):
    """Float gray image in 0..1 from gray, BGR or BGRA arrays of 8 or 16 bits or float (0..1,
    or 0..max when brighter). Colour is turned to gray in the image's own type first: a tenth
    of the float work on a photo."""
    scale = 65535.0 if image.dtype == np.uint16 else 255.0 if image.dtype == np.uint8 else max(float(image.max()), 1.0)
    if image.ndim == 3 and image.shape[2] == 4:
        return composite_on_paper(image.astype(np.float32) / scale)
    if image.ndim == 3:
        image = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image.astype(np.float32) / scale


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


def at_most(image, side):
    """`image` reduced (area averaging) to `side` pixels on its longer side if it is larger:
    the 20-pixel box needs far less than a phone photo's 12 megapixels, whose full-size
    float work took a third of a second."""
    if max(image.shape[:2]) <= side:
        return image
    return with_longer_side(image, side, cv2.INTER_AREA)


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


def frame(gray):
    """The image's outer ring of pixels."""
    return np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])


def border_level(gray):
    """The background brightness, read off the image's outer frame: its median."""
    edge = np.sort(frame(gray))
    middle = len(edge) // 2
    return float(edge[middle] if len(edge) % 2 else (edge[middle - 1] + edge[middle]) / edge.dtype.type(2))


def spread(values, low=5, high=95):
    """The `high` minus the `low` percentile of a vector, as np.percentile's linear method
    gives them (its own call costs 40 us, a tenth of to_mnist on a small image)."""
    ordered = np.sort(values)
    return percentile(ordered, high) - percentile(ordered, low)


def percentile(ordered, q):
    """np.percentile(values, q) (linear method) of a sorted vector: the same arithmetic."""
    at = (len(ordered) - 1) * (q / 100)
    below = int(at)
    a, b = ordered[below], ordered[min(below + 1, len(ordered) - 1)]
    t, step = at - below, float(b - a)
    return float(a) + step * t if t < 0.5 else float(b) - step * (1 - t)


def two_toned(gray):
    """True when the image is ink of one brightness on paper of another, as a canvas drawing or
    a clean scan is: away from Otsu's split, each side is of one brightness (a side with
    strokes too thin to have an inside says nothing). Such an image is lit evenly however its
    frame looks: fat strokes running off the edges make a frame spread as uneven light would."""
    small = at_most(gray, BACKGROUND_SIDE)
    bright = small > otsu_level(small)
    kernel = np.ones((3, 3), np.uint8)
    sides = [small[cv2.erode(side.astype(np.uint8), kernel) > 0] for side in (bright, ~bright)]
    sides = [side for side in sides if len(side)]
    return bool(sides) and all(spread(side) <= FLAT for side in sides)


def ink_is_dark(gray, even=False):
    """Dark ink on light paper? On evenly lit paper the frame is on the light side of Otsu's
    split; where ink covers much of the frame of an `even` (two-toned) image, the paper is the
    larger side. Under uneven light Otsu splits light from shadow instead, so there the sign
    of the strongest departure from the local background (the median of half the image) tells."""
    if spread(frame(gray)) <= UNEVEN:
        return border_level(gray) > otsu_level(gray)
    if even:
        return np.mean(gray > otsu_level(gray)) > 0.5
    small = at_most(gray, BACKGROUND_SIDE)
    window = max(3, min(small.shape) // 2) | 1
    departure = small - cv2.medianBlur(to_uint8(small), window).astype(np.float32) / 255
    return -departure.min() > departure.max()


def paper_level(gray):
    """The background's brightness: one level read off the frame, or, for an image of at
    least BACKGROUND_SIDE pixels whose background varies (a photo's light and shadows), a
    level for every pixel. (In small images the digit fills the frame and hides it.)"""
    if max(gray.shape) >= BACKGROUND_SIDE:
        level = background(gray)
        if level.max() - level.min() > UNEVEN:
            return level
    return border_level(gray)


def background(gray):
    """The background's brightness at every pixel, uneven light and shadows included,
    estimated on a copy reduced to BACKGROUND_SIDE pixels: a smoothed grey opening (window a
    sixth of the image, at least twice the strokes' width) finds the strokes, which are then
    painted over from the paper around them (OpenCV's inpainting), so the estimate follows
    shadow edges that the opening's square window cuts across. Ink is brighter than it."""
    small = at_most(gray, BACKGROUND_SIDE)
    rough = small > otsu_level(small)
    window = int(max(3, 2 * stroke_width(rough), min(small.shape) // 6)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (window, window))
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    opened = cv2.blur(opened, (max(1, window // 2),) * 2, borderType=cv2.BORDER_REPLICATE)
    above = np.clip(small - opened, 0.0, 1.0)
    strokes = (above > 0.5 * otsu_level(above / max(above.max(), 1e-6)) * above.max()).astype(np.uint8)
    strokes = cv2.dilate(strokes, np.ones((3, 3), np.uint8))
    level = cv2.inpaint(to_uint8(small), strokes, 5, cv2.INPAINT_TELEA).astype(np.float32) / 255
    level = cv2.GaussianBlur(level, (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(level, gray.shape[::-1], interpolation=cv2.INTER_LINEAR)


def with_longer_side(image, side, interpolation):
    """`image` resized so its longer side is `side` pixels, keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)


def otsu_level(ink):
    """Otsu's threshold of a 0..1 image, on the same scale."""
    level, _ = cv2.threshold((ink * 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return level / 255.0


def ink_mask(ink, level):
    """Pixels that are ink: above `level` (Otsu's); on large images, without specks (connected
    pieces smaller than SPECK of the largest), however thin the strokes."""
    mask = (ink > level).astype(np.uint8)
    if min(mask.shape) >= 3 * SIZE:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        areas = stats[:, cv2.CC_STAT_AREA]
        if count > 2:
            kept = areas >= SPECK * areas[1:].max()
            kept[0] = False  # the background
            mask = kept.astype(np.uint8)[labels]
    return mask


def typical_width(digit):
    """The digit with its strokes brought to MNIST's typical width when they are far thinner
    (a hairline pen) or far thicker (a marker), measured at WIDTH_SIDE pixels on the
    longer side, where MNIST's strokes are 6-14 pixels wide (median 8.8)."""
    big = with_longer_side(digit, WIDTH_SIDE, cv2.INTER_LINEAR)
    width = stroke_width(big > 0.5)
    if TYPICAL_WIDTH * 0.75 <= width <= TYPICAL_WIDTH * 1.5:
        return digit
    radius = int(round(abs(TYPICAL_WIDTH - width) / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    changed = cv2.dilate(big, kernel) if width < TYPICAL_WIDTH else cv2.erode(big, kernel)
    return changed if changed.max() > 0.5 else big


def stroke_width(mask):
    """Mean stroke width of a binary mask: twice its area over its outline's length."""
    mask = mask.astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * cv2.countNonZero(mask) / max(outline, 1.0)


def fit_box(digit):
    """Scale so the longer side is 20 pixels, keeping the aspect ratio."""
    return with_longer_side(digit, BOX, cv2.INTER_AREA if max(digit.shape) > BOX else cv2.INTER_LINEAR)


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
    return to_uint8(canvas / max(canvas.max(), 1e-6))


def to_uint8(image):
    """A 0..1 float image as uint8 0..255, rounded."""
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


def to_model_input(images):
    """uint8 (N, 28, 28) MNIST-form images -> float32 (N, 28, 28, 1) in 0..1, what every model takes."""
    return (images.astype(np.float32) / 255.0)[..., None]
