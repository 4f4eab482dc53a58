"""Playwright driving Debian's Chromium, and pointer strokes on the drawing page's canvas:
shared by the tests of the served page and of the web folder."""

import contextlib
import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network: no background connections, no first-run work.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CANVAS = 280


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


@contextlib.contextmanager
def served_page(weights, viewport):
    """The drawing page of a `digitcli serve` of `weights`, open in Chromium: for the scripts in
    bench/ (the tests use the `browser` fixture and their own server)."""
    from playwright.sync_api import sync_playwright

    from servers import Server

    server = Server(weights)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=viewport)
            page.goto(server.url + "/")
            yield page
            browser.close()
    finally:
        server.stop()


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
    """(class shown, the closest one when the page says "not a digit"; ms from the end of the last
    stroke to its answer on the page)."""
    page.wait_for_function("() => window.digitcli.askedAt >= window.digitcli.strokeEndedAt", timeout=5000)
    timing = page.evaluate("() => window.digitcli")
    shown = page.locator("#verdict b").text_content(timeout=1000) if page.locator("#verdict b").count() else None
    return shown, timing["shownAt"] - timing["strokeEndedAt"]


def set_brush(page, width):
    page.evaluate(f"document.getElementById('brush').value = {width}")




LAYOUTS = [(4, 6, (20, 30)), (18, 10, (0, 0)), (30, 6, (100, 90))]  # thin and small, medium, fat marker


def draw_traced(page, digits, png_folder):
    """Trace each MNIST digit into mouse strokes (brush widths and sizes in turn, LAYOUTS) on a
    fresh canvas: (classes shown, ms from each last stroke to its answer, PNGs of the canvases)."""
    import base64

    from data_tools.strokes import trace

    shown, latencies, pngs = [], [], []
    for i, digit in enumerate(digits):
        width, scale, offset = LAYOUTS[i % len(LAYOUTS)]
        page.click("#clear")
        set_brush(page, width)
        draw_strokes(page, trace(digit), scale, offset)
        answer, ms = answer_after_last_stroke(page)
        shown.append(answer)
        latencies.append(ms)
        pngs.append(png_folder / f"drawn{i}.png")  # the same drawing, as `predict` would get it
        data = page.evaluate("document.getElementById('pad').toDataURL('image/png')").split(",", 1)[1]
        pngs[-1].write_bytes(base64.b64decode(data))
    return shown, latencies, pngs


def static_server(folder):
    """`python -m http.server` on a free 127.0.0.1 port serving `folder`: (process, URL)."""
    import subprocess
    import sys
    import time
    import urllib.request

    from servers import HOST, free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", HOST, "--directory",
                               str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}/"
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    return server, url
