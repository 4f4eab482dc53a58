"""`make bench-explain`: how long the look inside takes, beside `predict` in the same run.

- the command: `digitcli explain ONE.png` end to end against `digitcli predict ONE.png`;
- in one process, per image: the numbers (activations, gradients, HiResCAM) and the picture;
- the server: POST /explain against POST /predict, one request after another;
- the drawing page in Chromium: from the end of a stroke to the answer shown, with the look
  inside open and closed, on traced MNIST test digits.

    python bench/bench_explain.py WEIGHTS.h5 [--rounds 7]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from data_tools.sources import locate_mnist_npz  # noqa: E402
from servers import Server  # noqa: E402

CLI = [sys.executable, "-m", "digitcli"]


def wall(args):
    start = time.perf_counter()
    subprocess.run(CLI + [str(a) for a in args], check=True, capture_output=True)
    return time.perf_counter() - start


def in_process(weights, image, rounds):
    """Median seconds per image of (the numbers, the picture), after a first image."""
    from digitcli.explain.explanation import explain_image, open_network
    from digitcli.explain.picture import draw
    from digitcli.inference import Classifier
    from digitcli.preprocess import to_mnist

    classifier = Classifier(weights)
    network = open_network(classifier)
    numbers, picture = [], []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(rounds + 1):
            start = time.perf_counter()
            ex = explain_image(network, classifier, to_mnist(image))
            middle = time.perf_counter()
            draw(ex, Path(out) / "x.png")
            numbers.append(middle - start)
            picture.append(time.perf_counter() - middle)
    return statistics.median(numbers[1:]), statistics.median(picture[1:])


def served(weights, body, requests):
    """Median and 99th-percentile milliseconds of /predict and /explain, one request at a time."""
    server = Server(weights)
    try:
        times = {}
        for path in ("/predict?top_k=10&input=1", "/explain"):
            taken = []
            for _ in range(requests):
                start = time.perf_counter()
                status, _ = server.request(path, data=body, headers={"Content-Type": "image/png"})
                taken.append(1000 * (time.perf_counter() - start))
                assert status == 200, status
            taken.sort()
            times[path.split("?")[0]] = (statistics.median(taken), taken[int(0.99 * (len(taken) - 1))])
        return times
    finally:
        server.stop()


def on_the_page(weights, digits):
    """Milliseconds from each stroke's end to its answer on the page: (closed, open) lists."""
    from browser import answer_after_last_stroke, draw_strokes, served_page
    from data_tools.strokes import trace

    times = []
    with served_page(weights, {"width": 900, "height": 1300}) as page:
        for looking in (False, True):
            if looking:
                page.click("#inside summary")
            taken = []
            for digit in digits:
                page.click("#clear")
                draw_strokes(page, trace(digit), 10, (0, 0))
                taken.append(answer_after_last_stroke(page)[1])
            times.append(taken)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("weights")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with np.load(locate_mnist_npz(REPO)) as data:
        digit, traced = data["x_test"][0], data["x_test"][:20]
    image = 255 - cv2.resize(digit, (280, 280))  # as a photo or a canvas gives it: dark ink on paper
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "one.png"
        cv2.imwrite(str(path), image)
        wall(["explain", path, "--weights", args.weights, "--out", folder])  # caches warm
        predict, explain = [], []
        for _ in range(args.rounds):  # alternated, so that both see the same machine
            predict.append(wall(["predict", path, "--weights", args.weights]))
            explain.append(wall(["explain", path, "--weights", args.weights, "--out", folder]))
        body = path.read_bytes()
    p, e = statistics.median(predict), statistics.median(explain)
    numbers, picture = in_process(args.weights, image, args.rounds)
    times = served(args.weights, body, args.requests)
    closed, looking = on_the_page(args.weights, traced)
    print(f"| `digitcli explain ONE.png`, end to end | {e:.2f} s (median of {args.rounds}) |"
          f" `predict` in the same run: {p:.2f} s ({e / p:.1f}x) |")
    print(f"| in one process, per image | {1000 * (numbers + picture):.0f} ms | numbers {1000 * numbers:.0f} ms, "
          f"picture {1000 * picture:.0f} ms |")
    print(f"| `POST /explain`, one at a time | {times['/explain'][0]:.1f} ms median, {times['/explain'][1]:.1f} ms p99 |"
          f" `/predict?input=1`: {times['/predict'][0]:.1f} / {times['/predict'][1]:.1f} ms |")
    print(f"| the page, stroke end to answer, look inside open | {statistics.median(looking):.0f} ms median, "
          f"{max(looking):.0f} ms max ({len(looking)} traced digits) | closed: {statistics.median(closed):.0f} / "
          f"{max(closed):.0f} ms |")


if __name__ == "__main__":
    main()
