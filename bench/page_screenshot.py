"""docs/serve_page.png, docs/serve_page_unknown.png and docs/serve_page_inside.png: the drawing
page with a traced MNIST test digit drawn on it, with a smiley (which the model should call not
a digit), and the digit again with the look-inside view open.

    python bench/page_screenshot.py WEIGHTS.h5 [OUT_FOLDER]
"""

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from browser import answer_after_last_stroke, draw_strokes, served_page, set_brush  # noqa: E402
from data_tools.outliers import smiley  # noqa: E402
from data_tools.sources import locate_mnist_npz  # noqa: E402
from data_tools.strokes import trace  # noqa: E402


def main():
    weights, out = Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else REPO / "docs")
    with np.load(locate_mnist_npz(REPO)) as data:
        digit = data["x_test"][np.flatnonzero(data["y_test"] == 4)[3]]
    with served_page(weights, {"width": 820, "height": 560}) as page:
        for strokes, name in ((trace(digit), "serve_page.png"),
                              (smiley(np.random.default_rng(0)), "serve_page_unknown.png")):
            page.click("#clear")
            set_brush(page, 16)
            draw_strokes(page, strokes, 9, (14, 10))
            answer_after_last_stroke(page)
            print(name, page.locator("#verdict").text_content())
            page.screenshot(path=str(out / name))
        page.set_viewport_size({"width": 820, "height": 1100})
        page.click("#inside summary")
        page.click("#clear")
        draw_strokes(page, trace(digit), 9, (14, 10))
        answer_after_last_stroke(page)
        page.screenshot(path=str(out / "serve_page_inside.png"), full_page=True)


if __name__ == "__main__":
    main()
