"""The drawing page in a real browser: Playwright driving Debian's Chromium, pointer strokes
(mouse and touch), the answer shown on the page and how soon after a stroke it comes."""

import os
import shutil
import statistics

import cv2
import numpy as np
import pytest

from data_tools.strokes import trace

from servers import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network: no background connections, no first-run work.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CANVAS = 280
LATENCY_MS = 100


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(trained):
    s = Server(trained[1])
    yield s
    s.stop()


def canvas_origin(page):
    box = page.locator("#pad").bounding_box()
    return box["x"], box["y"], box["width"] / CANVAS


def draw_strokes(page, strokes, scale, offset):
    """Mouse strokes: each polyline (digit pixels) scaled and moved onto the canvas."""
    x0, y0, css = canvas_origin(page)
    for stroke in strokes:
        points = [(x0 + (offset[0] + scale * x) * css, y0 + (offset[1] + scale * y) * css) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for x, y in points[1:] or points:
            page.mouse.move(x, y, steps=3)
        page.mouse.up()


def answer_after_last_stroke(page):
    """(class shown, ms from the end of the last stroke to its answer on the page)."""
    page.wait_for_function("() => window.digitcli.askedAt >= window.digitcli.strokeEndedAt", timeout=5000)
    timing = page.evaluate("() => window.digitcli")
    shown = page.locator("#verdict b").text_content(timeout=1000) if page.locator("#verdict b").count() else None
    return shown, timing["shownAt"] - timing["strokeEndedAt"]


def set_brush(page, width):
    page.evaluate(f"document.getElementById('brush').value = {width}")


def test_traced_mnist_digits_at_several_brush_widths(browser, server, mnist, tmp_path):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(server.url + "/")
    picks = [int(np.flatnonzero(mnist["y_test"] == d)[k]) for d in range(10) for k in (0, 1)]
    results, latencies = [], []
    # brush width, scale from digit pixels to canvas pixels, position: a thin pen small at the
    # top left, a medium one filling the canvas, a fat marker (a quarter of the digit's height)
    layouts = [(4, 6, (20, 30)), (18, 10, (0, 0)), (30, 6, (100, 90))]
    for i, index in enumerate(picks):
        width, scale, offset = layouts[i % len(layouts)]
        page.click("#clear")
        set_brush(page, width)
        draw_strokes(page, trace(mnist["x_test"][index]), scale, offset)
        shown, ms = answer_after_last_stroke(page)
        results.append(shown == str(mnist["y_test"][index]))
        latencies.append(ms)
    page.screenshot(path=str(tmp_path / "page.png"))
    page.close()
    accuracy = sum(results) / len(results)
    assert accuracy >= 0.75, f"{sum(results)} of {len(results)} traced digits recognised"
    assert statistics.median(latencies) < LATENCY_MS and sorted(latencies)[int(0.9 * len(latencies))] < LATENCY_MS, \
        f"answer {statistics.median(latencies):.0f} ms (median), {max(latencies):.0f} ms (max) after the stroke"


def test_simple_strokes_thin_and_thick_small_and_large(browser, server):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(server.url + "/")
    one = [[(14, 4), (14, 24)]]
    seven = [[(6, 5), (22, 5), (12, 25)]]
    for strokes, label in ((one, "1"), (seven, "7")):
        for width, scale, offset in ((3, 10, (0, 0)), (40, 10, (0, 0)), (8, 3, (180, 10)), (12, 4, (10, 150))):
            page.click("#clear")
            set_brush(page, width)
            draw_strokes(page, strokes, scale, offset)
            shown, _ = answer_after_last_stroke(page)
            assert shown == label, f"{label} drawn with brush {width} at scale {scale} read as {shown}"
    page.click("#clear")
    assert page.locator("#verdict").text_content() == "Draw a digit."
    page.close()


def test_touch_draws_without_scrolling_the_page(browser, server):
    context = browser.new_context(viewport={"width": 360, "height": 420}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(server.url + "/")
    assert page.evaluate("document.documentElement.scrollHeight > innerHeight")  # the page could scroll
    cdp = context.new_cdp_session(page)
    x0, y0, css = canvas_origin(page)
    points = [(x0 + 140 * css, y0 + (40 + 20 * k) * css) for k in range(11)]  # a vertical "1", top to bottom
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
    for x, y in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    shown, _ = answer_after_last_stroke(page)
    assert shown == "1"
    assert page.evaluate("scrollY") == 0
    context.close()


def test_chosen_file_is_answered_like_predict(browser, server, trained, mnist, tmp_path):
    from digitcli.predict import predict_paths

    path = tmp_path / "three.png"
    cv2.imwrite(str(path), 255 - cv2.resize(mnist["x_test"][18], (120, 120)))  # dark on light, larger
    expected = predict_paths([str(path)], trained[1])[0]
    page = browser.new_page()
    page.goto(server.url + "/")
    page.set_input_files("#file", str(path))
    page.wait_for_function("() => window.digitcli.answers > 0")
    assert page.locator("#verdict b").text_content() == expected.class_name
    assert f"({100 * expected.confidence:.1f}% confident)" in page.locator("#verdict").text_content()
    assert page.locator("#seen").get_attribute("src").startswith("data:image/png")
    assert page.locator("#bars li").count() == 10
    page.close()
