"""The stress transforms themselves, on a few MNIST test digits, and the preprocessing that
must cope with them."""

import cv2
import numpy as np
import pytest

from data_tools import stress
from data_tools.strokes import length, trace
from digitcli.preprocess import stroke_width, to_gray, to_mnist


@pytest.fixture(scope="module")
def few(mnist):
    return mnist["x_test"][:12], mnist["y_test"][:12]


def ink_mask(image):
    gray = to_gray(image)
    return (gray < 0.5) if np.median(gray) > 0.5 else (gray > 0.5)


def test_trace_covers_the_digit(few):
    digits, _ = few
    for digit in digits[:5]:
        strokes = trace(digit)
        redrawn = stress.draw_strokes(strokes, 2.5, canvas=(28, 28), scale=1, offset=(0, 0))
        covered = cv2.dilate(redrawn, np.ones((3, 3)))[digit > 100] > 0.3
        assert covered.mean() > 0.9


def test_trace_of_a_ring_stays_closed():
    """A 0 drawn as a ring traces to one closed stroke, not a U (Douglas-Peucker on a loop
    once dropped the part between its coinciding ends)."""
    ring = np.zeros((28, 28), np.uint8)
    cv2.circle(ring, (14, 14), 8, 255, 2, cv2.LINE_AA)
    strokes = trace(ring)
    assert len(strokes) == 1
    stroke = np.array(strokes[0])
    assert np.hypot(*(stroke[0] - stroke[-1])) < 1.0 and length(strokes[0]) > 0.9 * 2 * np.pi * 8


def test_pen_width_really_changes(few):
    digits, labels = few
    widths = []
    for width in (1, 6, 30):
        ink = stress.draw_strokes(trace(digits[0]), width)
        widths.append(stroke_width(ink > 0.5))
    assert widths[0] < 2.5 and 4 < widths[1] < 9 and widths[2] > 24  # pixels on the 280-pixel canvas
    images, kept = stress.pen_widths(digits, labels, np.random.default_rng(0))
    assert len(images) == len(kept) and images[0].shape == (280, 280) and images[0].dtype == np.uint8


def test_each_image_knows_the_digit_it_was_made_from(few):
    digits, labels = few
    wide = digits.copy()
    wide[3] = cv2.dilate(digits[3], np.ones((5, 5), np.uint8))  # loops filled in: its trace is left out
    for name in ("pen widths", "low resolution"):
        images, made = stress.make_set(name, wide, labels)
        origin = stress.sources(name, wide)
        assert len(origin) == len(images) and (labels[origin] == made).all()
    assert 3 not in stress.sources("pen widths", wide)
    assert stress.sources("printed", wide) is None


def test_transparent_background_is_paper(few):
    digits, labels = few
    images, _ = stress.transparent(digits, labels, np.random.default_rng(0))
    image = images[0]
    assert image.shape[2] == 4 and image[..., 3].min() == 0 and image[..., 3].max() > 200
    assert (image[image[..., 3] == 0, :3] == 0).all()  # black under the transparency, as canvases export it
    gray = to_gray(image)
    assert gray[image[..., 3] == 0].min() > 0.99  # transparent areas become paper, not ink
    assert to_mnist(image).max() == 255


def test_reduced_digit_is_really_low_resolution(few):
    digits, labels = few
    images, _ = stress.low_resolution(digits, labels, np.random.default_rng(0))
    for digit, image in zip(digits, images):
        side = image.shape[0] // 4

        def detail_lost_by_reducing(im):
            small = cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA)
            return np.abs(cv2.resize(small, im.shape[::-1], interpolation=cv2.INTER_CUBIC).astype(int) - im).mean()

        sharp = 255 - cv2.resize(digit, image.shape[::-1], interpolation=cv2.INTER_NEAREST)
        assert detail_lost_by_reducing(image) < 0.4 * detail_lost_by_reducing(sharp)  # it holds no finer detail
        assert 7.5 <= side * 20 / 28 <= 16.5  # the digit (20 of 28 pixels) was 8-16 pixels tall, rounded


def test_photographed_and_dark_sets_have_uneven_or_inverted_light(few):
    digits, labels = few
    photos, _ = stress.photographed(digits, labels, np.random.default_rng(0))
    gray = to_gray(photos[0])
    frame = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    assert frame.max() - frame.min() > 0.15 and photos[0].ndim == 3  # light varies across the sheet
    chalk, _ = stress.light_on_dark(digits, labels, np.random.default_rng(0))
    assert np.median(chalk[0]) < 100 and chalk[0].max() > 170


def test_printed_digits_cover_the_variants():
    images, labels = stress.printed(None, None, np.random.default_rng(0))
    assert len(images) == len(labels) and set(labels.tolist()) == set(range(10))
    per_font = 3 * (10 + 1 + 1)  # sizes x (digits, a barred 7, an open 4)
    assert len(images) == len(stress.FONTS) * per_font
    seven = stress.render_glyph("7", stress.FONTS["DejaVu Sans"], 64)
    assert (stress.barred_seven(seven) > 0.5).sum() > (seven > 0.5).sum()  # the bar adds ink
    four = stress.open_four(64)
    assert four.max() > 0.9


def test_photographed_digit_survives_preprocessing(few, mnist):
    digits, labels = few
    photos, kept = stress.photographed(digits, labels, np.random.default_rng(1))
    for photo in photos[:4]:
        seen = to_mnist(photo)
        assert seen.shape == (28, 28) and (seen > 127).mean() < 0.35  # a digit, not a shadow


def test_hairline_strokes_are_not_taken_for_specks(mnist):
    """A 1-pixel pen on a 280-pixel canvas (test digit 453 once became a grey square), and
    specks of dust far from the digit, which must not widen its box."""
    strokes = trace(mnist["x_test"][453])
    marker = to_mnist(stress.on_paper(stress.draw_strokes(strokes, 23))).ravel()
    hairline = stress.on_paper(stress.draw_strokes(strokes, 1))
    dusty = stress.on_paper(stress.draw_strokes(strokes, 23))
    dusty[5:7, 5:7] = dusty[270:272, 140:142] = 0
    for image in (hairline, dusty):
        similarity = np.corrcoef(to_mnist(image).ravel(), marker)[0, 1]
        assert similarity > 0.6  # the same 3 in the same place (the grey square was 0.47)


def test_dark_ink_is_found_under_a_deep_shadow(mnist):
    """Half the sheet in shadow: Otsu splits light from shadow, not ink from paper, so the
    frame alone would call the ink light."""
    strokes = trace(mnist["x_test"][3])
    clean = stress.on_paper(stress.draw_strokes(strokes, 16))
    light = np.ones(clean.shape, np.float32)
    light[:, :150] = 0.4
    shaded = (clean * cv2.GaussianBlur(light, (0, 0), 10)).astype(np.uint8)
    similarity = np.corrcoef(to_mnist(shaded).ravel(), to_mnist(clean).ravel())[0, 1]
    assert similarity > 0.9


def test_canvas_brushes_span_the_pages_brush_widths(few):
    digits, labels = few
    images, made = stress.canvas_brushes(digits, labels, np.random.default_rng(0))
    assert len(images) == len(made) and all(image.shape == (280, 280) for image in images)
    widths = [stroke_width(ink_mask(image)) for image in images]
    assert min(widths) < 10 and max(widths) > 25  # from a fine pen to a marker, on the page's canvas
    assert stress.sources("canvas brushes", digits) is not None


def test_other_writers_are_low_resolution_digits_of_their_own(few):
    images, made = stress.make_set("other writers 8x8", *few)
    assert len(images) == len(made) == 1797 and set(made) == set(range(10))
    assert images[0].shape == (48, 48) and np.median(images[0]) > 200  # dark ink on light, enlarged 4x
    assert all(to_mnist(image).max() == 255 for image in images[:20])
    assert stress.sources("other writers 8x8", few[0]) is None
