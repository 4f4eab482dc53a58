"""The shared preprocessing: MNIST files unchanged, drawings brought to MNIST form."""

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from data_tools.drawings import make_drawing
from data_tools.stress import photographed
from digitcli.augment import random_affine
from digitcli.preprocess import NoInkError, border_level, frame, ink_mask, spread, to_mnist


def test_mnist_style_images_come_through_unchanged(mnist):
    for digit in mnist["x_test"][:500]:
        assert to_mnist(digit) is digit


def similarity(a, b):
    """Best pixel correlation over shifts of up to 2 pixels (centring differs by rounding)."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel(), b.ravel())[0, 1]
               for dy in range(-2, 3) for dx in range(-2, 3))


def centre_of_mass(image):
    m = cv2.moments(image.astype(np.float32))
    return m["m10"] / m["m00"], m["m01"] / m["m00"]


@pytest.mark.parametrize("seed", range(5))
def test_drawings_become_mnist_form(mnist, seed):
    rng = np.random.default_rng(seed)
    digit = mnist["x_test"][seed]
    out = to_mnist(make_drawing(digit, rng))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out[0].max() == out[-1].max() == out[:, 0].max() == out[:, -1].max() == 0  # dark frame
    assert out.max() == 255
    cx, cy = centre_of_mass(out)
    assert abs(cx - 13.5) < 1 and abs(cy - 13.5) < 1
    ys, xs = np.nonzero(out > 64)
    assert max(np.ptp(ys), np.ptp(xs)) <= 20
    # the same digit as MNIST's own rendering, up to resampling: strongly correlated
    assert similarity(out, digit) > 0.75


def test_sixteen_bit_and_inverted_images(mnist):
    digit = mnist["x_test"][0]
    inverted16 = (65535 - digit.astype(np.uint16) * 257)
    big = cv2.resize(inverted16, (112, 112), interpolation=cv2.INTER_NEAREST)
    out = to_mnist(big)
    assert similarity(out, digit) > 0.9


@pytest.mark.parametrize("image", [
    np.zeros((50, 50), np.uint8),
    np.full((40, 60, 3), 230, np.uint8),
    np.dstack([np.full((30, 30, 3), 255, np.uint8), np.zeros((30, 30), np.uint8)]),  # fully transparent
])
def test_blank_images_have_no_ink(image):
    with pytest.raises(NoInkError):
        to_mnist(image)


def test_augmentation_keeps_digits_recognisable_and_never_flips(mnist):
    digits = mnist["x_test"][:64]
    warped = random_affine(digits, np.random.default_rng(0))
    assert warped.shape == digits.shape and warped.dtype == np.uint8
    assert not np.array_equal(warped, digits)
    kept = np.mean([similarity(a, b) for a, b in zip(digits, warped)])
    mirrored = np.mean([similarity(a[:, ::-1], b) for a, b in zip(digits, warped)])
    assert kept > 0.6 and kept > mirrored + 0.15
    assert np.array_equal(warped, random_affine(digits, np.random.default_rng(0)))


def test_a_share_of_the_training_digits_is_drawn_with_a_fat_marker():
    """A loop with a 3-5 pixel hole: the marker's 4 and 5 pixel discs close it (two of its three
    sizes), no other pen or scanner does."""
    from digitcli.augment import MARKER, pens_and_scanners

    ring = np.zeros((28, 28), np.uint8)
    cv2.circle(ring, (14, 14), 4, 255, 3)
    out = pens_and_scanners(np.repeat(ring[None], 3000, 0), np.random.default_rng(0))
    closed = np.mean(out[:, 14, 14] > 127)
    assert 0.5 * MARKER < closed < 0.8 * MARKER


def test_loading_a_batch_applies_the_same_preprocessing(mnist, tmp_path):
    """load_images checks the MNIST fast path for a whole batch at once: it must agree
    with to_mnist image by image, for MNIST files, inverted 28x28 files and blank ones."""
    from digitcli.folders import load_images

    digits = mnist["x_test"][:20]
    images = list(digits) + [255 - d for d in digits[:5]] + [np.full((28, 28), 255, np.uint8)]
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], image)
    x, failures = load_images(paths)
    assert list(failures) == [len(images) - 1] and "no ink" in failures[len(images) - 1]
    assert np.array_equal(x[:20], digits)
    for i in range(20, 25):
        assert np.array_equal(x[i], to_mnist(images[i]))
        assert similarity(x[i], digits[i - 20]) > 0.9


def test_phone_sized_photos_read_like_small_ones(mnist):
    photos, _ = photographed(mnist["x_test"][:2], mnist["y_test"][:2], np.random.default_rng(0))
    for photo in photos:
        big = cv2.resize(photo, (4000, 3000), interpolation=cv2.INTER_CUBIC)  # 12 megapixels
        small = cv2.resize(photo, (400, 300), interpolation=cv2.INTER_AREA)
        assert similarity(to_mnist(big), to_mnist(small)) > 0.95


def notebook_page(digit, margin_x, lines, colour=(140, 50, 25)):
    """`digit` (MNIST form) written in ballpoint on a 300x300 page with light blue lines at
    `lines` (rows) and a red margin line at column `margin_x`, as BGR."""
    ink = cv2.resize(digit, (200, 200), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    coverage = np.zeros((300, 300), np.float32)
    coverage[50:250, 50:250] = ink
    page = np.empty((300, 300, 3), np.float32)
    page[:] = (236, 241, 244)
    for y in lines:
        cv2.line(page, (0, y), (300, y), (225, 195, 150), 2, cv2.LINE_AA)
    cv2.line(page, (margin_x, 0), (margin_x, 300), (90, 90, 225), 3, cv2.LINE_AA)
    page = page * (1 - coverage[..., None]) + np.array(colour, np.float32) * coverage[..., None]
    return page.astype(np.uint8)


def plain_page(digit):
    ink = cv2.resize(digit, (200, 200), interpolation=cv2.INTER_CUBIC)
    page = np.full((300, 300), 240, np.uint8)
    page[50:250, 50:250] = 240 - (ink.astype(np.float32) / 255 * 200).astype(np.uint8)
    return page


@pytest.mark.parametrize("margin_x", [30, 150])  # beside the digit, and through it
def test_notebook_lines_are_dropped_and_the_digit_kept(mnist, margin_x):
    digit = mnist["x_test"][3]  # a 0: a margin line through it makes it look like a 6, 8 or b
    lines = list(range(20, 300, 40))
    on_notebook = to_mnist(notebook_page(digit, margin_x, lines)) > 127
    on_plain = to_mnist(plain_page(digit)) > 127
    overlap = (on_notebook & on_plain).sum() / (on_notebook | on_plain).sum()
    assert overlap >= 0.8, f"the digit's ink on notebook paper overlaps its plain-paper ink by {overlap:.0%}"
    # without the line removal, the lines and the margin are taken for ink
    from digitcli import preprocess

    kept = preprocess.without_ruling
    try:
        preprocess.without_ruling = lambda ink: ink
        unfiltered = to_mnist(notebook_page(digit, margin_x, lines)) > 127
    finally:
        preprocess.without_ruling = kept
    assert (unfiltered & on_plain).sum() / (unfiltered | on_plain).sum() < overlap - 0.1


@pytest.mark.parametrize("angle", [0, 9, 81, 90])  # horizontal, vertical, and near the tilt a photo may have
def test_the_line_search_is_skipped_only_where_no_line_can_be(angle):
    from digitcli.preprocess import RULING_SPAN, may_hold_line

    mask = np.zeros((256, 256), np.uint8)
    span = int(RULING_SPAN * 256)
    direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    start = np.array([128, 128]) - direction * span / 2
    cv2.line(mask, tuple(map(int, start.round())), tuple(map(int, (start + direction * span).round())), 255, 1)
    assert may_hold_line(mask, span)
    shorter = np.zeros_like(mask)
    cv2.line(shorter, tuple(map(int, start.round())), tuple(map(int, (start + direction * span * 0.85).round())), 255, 3)
    assert not may_hold_line(shorter, span)
    assert not may_hold_line(np.zeros_like(mask), span)


def test_a_photographed_margin_line_found_in_pieces_is_taken_out_whole(mnist, monkeypatch):
    from data_tools.stress import make_set
    from digitcli import preprocess

    # the 29th page of the ruled set: its margin line, blurred and turned by the photo, is found
    # by the Hough transform only in pieces shorter than the page
    images, labels = make_set("ruled notebook", mnist["x_test"][:34], mnist["y_test"][:34])
    passed = []
    keep = preprocess.without_ruling
    monkeypatch.setattr(preprocess, "without_ruling", lambda ink: passed.append((ink, keep(ink))) or passed[-1][1])
    preprocess.to_mnist(images[28])
    ink, cleaned = passed[0]
    assert ink.shape[0] == ink.shape[1]
    small = cv2.resize(ink, (256, 256), interpolation=cv2.INTER_AREA)
    mask = (small > preprocess.RULING_LEVEL).astype(np.uint8) * 255
    span = int(preprocess.RULING_SPAN * 256)
    pieces = cv2.HoughLinesP(mask, 1, np.pi / 360, threshold=span // 2, minLineLength=span, maxLineGap=span // 27)
    assert pieces is None or all(abs(x1 - x2) > 40 for x1, _, x2, _ in pieces.reshape(-1, 4))  # no whole vertical
    (x1, y1, x2, y2), = [line for line in preprocess.paper_lines(mask, span) if abs(line[0] - line[2]) < 40]
    assert y2 - y1 >= span
    band = np.zeros(ink.shape, np.uint8)
    up = ink.shape[0] / 256
    cv2.line(band, (round(x1 * up), round(y1 * up)), (round(x2 * up), round(y2 * up)), 1, 7)
    line_only = (band > 0) & (ink < 0.7)  # the line where no stroke crosses it
    assert ink[line_only].mean() > 0.1 and cleaned[line_only].max() < 0.05
    assert (cleaned[ink > 0.7] > 0).mean() > 0.97  # the strokes stay


def test_a_stroke_running_along_most_of_a_grid_line_stays(mnist):
    """A 9 whose stem runs down a squared page's line for two thirds of its length: the
    line's own darkness is read where the stroke is not, so the stem is not cleared with it."""
    def page(grid):
        paper = np.full((320, 320, 3), (236, 241, 244), np.float32)
        for at in range(20, 320, 45) if grid else ():
            cv2.line(paper, (0, at), (320, at), (225, 195, 150), 2, cv2.LINE_AA)
            cv2.line(paper, (at, 0), (at, 320), (225, 195, 150), 2, cv2.LINE_AA)
        ink = np.zeros((320, 320), np.float32)
        cv2.ellipse(ink, (160, 140), (45, 50), 0, 0, 360, 1.0, 9, cv2.LINE_AA)
        cv2.line(ink, (200, 95), (200, 305), 1.0, 9, cv2.LINE_AA)  # along the line at x = 200
        paper = paper * (1 - ink[..., None]) + np.array((140, 50, 25), np.float32) * ink[..., None]
        return paper.astype(np.uint8)

    on_grid, on_plain = to_mnist(page(True)) > 127, to_mnist(page(False)) > 127
    assert (on_grid & on_plain).sum() / (on_grid | on_plain).sum() >= 0.8


@pytest.mark.parametrize("centre", [(60, 100), (140, 20), (140, 260), (230, 140)])
def test_a_fat_stroke_running_off_the_canvas_keeps_its_shape(centre):
    """A 0 drawn with a fat marker and cut by one edge of the canvas: ink on the frame makes it
    spread as uneven light would, yet the ring stays a ring, as it is with more paper around it
    (once its hole was filled, or the paper taken for the ink)."""
    canvas = np.full((280, 280), 255, np.uint8)
    cv2.ellipse(canvas, centre, (60, 100), 0, 0, 360, 0, 44, cv2.LINE_AA)
    with_margin = cv2.copyMakeBorder(canvas, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=255)
    assert similarity(to_mnist(canvas), to_mnist(with_margin)) > 0.95


def test_a_long_straight_stroke_is_no_paper_line():
    from digitcli.preprocess import without_ruling

    ink = np.zeros((320, 320), np.float32)
    cv2.line(ink, (160, 40), (163, 280), 1.0, 14, cv2.LINE_AA)  # a 1 three quarters of the page tall
    assert np.array_equal(without_ruling(ink), ink)


def test_a_line_cutting_a_corner_counts_only_beside_lines_that_run_across():
    from digitcli.preprocess import RULING_SPAN, paper_lines

    def page(starts):
        mask = np.zeros((256, 256), np.uint8)
        for x in starts:  # squared paper's vertical lines on a page turned 6 degrees
            cv2.line(mask, (x, 0), (round(x - 255 * np.tan(np.radians(6))), 255), 255, 2)
        return mask

    span = int(RULING_SPAN * 256)
    found = paper_lines(page([20, 70, 120, 170, 220]), span)
    assert len(found) == 5 and min(max(x1, x2) for x1, _, x2, _ in found) < 25  # the corner's line too
    assert paper_lines(page([20]), span) == []  # alone, it could be a stroke touching two edges


# What the frame of a 0..1 float image holds: any values, and the uint8 levels files give.
frames = st.one_of(arrays(np.float32, st.integers(4, 800), elements=st.floats(0, 1, width=32)),
                   arrays(np.uint8, st.integers(4, 800)).map(lambda v: (v / 255).astype(np.float32)))


@given(frames)
def test_frame_statistics_are_numpys_to_the_last_bit(values):
    """spread and border_level stand in for np.percentile and np.median on the hot path:
    the same numbers exactly, so no image's preprocessing changes."""
    low, high = np.percentile(values, [5, 95])
    assert spread(values) == high - low
    image = values[:len(values) // 4 * 4].reshape(4, -1)
    assert border_level(image) == float(np.median(frame(image)))


def test_specks_leave_the_ink_mask_and_every_stroke_stays():
    ink = np.zeros((120, 120), np.float32)
    cv2.line(ink, (20, 20), (100, 100), 1.0, 6)
    cv2.line(ink, (20, 100), (50, 70), 1.0, 3)  # a thinner stroke apart from the first
    ink[5, 110] = ink[110, 5] = 1.0  # specks
    mask = ink_mask(ink, 0.5)
    assert mask.dtype == np.uint8 and mask[5, 110] == 0 and mask[110, 5] == 0
    assert mask[60, 60] == 1 and mask[85, 35] == 1
