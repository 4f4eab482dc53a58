"""The JavaScript side: mnist.js (the page's and Node's preprocessing) against Python's
to_mnist on drawings, and the Node example against `digitcli predict`."""

import json
import os
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from conftest import REPO
from data_tools import stress
from data_tools.drawings import make_drawing
from digitcli.inference import Classifier
from digitcli.preprocess import to_mnist

NODE_MODULES = REPO / "examples" / "node" / "node_modules"


@pytest.fixture(scope="module")
def node():
    if shutil.which("node") is None or not NODE_MODULES.is_dir():
        why = "Node.js or examples/node/node_modules is missing (make install runs npm ci there)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return shutil.which("node")


def js_to_mnist(node, paths):
    out = subprocess.run([node, str(REPO / "tests" / "js" / "to_mnist.mjs"), *map(str, paths)], capture_output=True,
                         text=True, check=True, timeout=300).stdout
    return [json.loads(line) for line in out.splitlines()]


def drawings(mnist, count):
    """Drawn, traced and exported digits: what the page and a Node app get."""
    x, y = mnist["x_test"][:count], mnist["y_test"][:count]
    rng = np.random.default_rng(0)
    sets = {name: stress.make_set(name, x, y) for name in ("pen widths", "transparent", "dark on light")}
    sets["drawings"] = ([make_drawing(digit, rng) for digit in x], y)
    return sets


def test_mnist_js_agrees_with_to_mnist_on_drawings(node, trained, mnist, tmp_path):
    classifier = Classifier(trained[1])
    for name, (images, labels) in drawings(mnist, 60).items():
        paths = []
        for i, image in enumerate(images):
            paths.append(tmp_path / f"{name.replace(' ', '_')}{i}.png")
            cv2.imwrite(str(paths[-1]), image)
        js = np.array(js_to_mnist(node, paths), np.uint8).reshape(-1, 28, 28)
        py = np.stack([to_mnist(cv2.imread(str(p), cv2.IMREAD_UNCHANGED)) for p in paths])
        difference = np.abs(js.astype(int) - py).mean()
        agreement = (classifier.predict(js).argmax(1) == classifier.predict(py).argmax(1)).mean()
        assert difference <= 3 and agreement >= 0.98, (name, difference, agreement)


def test_mnist_js_passes_mnist_form_through_and_refuses_blank(node, mnist, tmp_path):
    digit, blank = tmp_path / "digit.png", tmp_path / "blank.png"
    cv2.imwrite(str(digit), mnist["x_test"][0])
    cv2.imwrite(str(blank), np.full((100, 100), 255, np.uint8))
    passed, refused = js_to_mnist(node, [digit, blank])
    assert np.array_equal(np.reshape(passed, (28, 28)), mnist["x_test"][0])
    assert refused == {"error": "no ink found (blank or uniform image)"}


def test_node_example_answers_like_predict(node, trained, digits_tree, tmp_path):
    from digitcli.convert.run import convert
    from digitcli.predict import predict_paths

    [check] = convert(trained[1], ["onnx"], ["fp32"], str(digits_tree), tmp_path / "out", say=lambda line: None)
    pngs = sorted(str(p) for p in (digits_tree / "validation").glob("*/*.png"))[:200]
    example = subprocess.run([node, str(REPO / "examples" / "node" / "predict.mjs"), str(tmp_path / "out" / check.file),
                              *pngs], capture_output=True, text=True, check=True, timeout=300)
    rows = [line.split() for line in example.stdout.splitlines()]
    expected = predict_paths(pngs, trained[1])
    assert [r[0] for r in rows] == pngs and [r[1] for r in rows] == [p.class_name for p in expected]
    assert all(abs(float(r[2].rstrip("%")) - 100 * p.confidence) <= 0.1 for r, p in zip(rows, expected))
