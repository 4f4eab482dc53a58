"""`digitcli predict`: right answers on real files, every format, every kind of bad input."""

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from data_tools.drawings import make_drawing
from digitcli import artifacts
from digitcli.inference import Classifier
from digitcli.preprocess import to_mnist

from conftest import run_cli


@pytest.fixture(scope="module")
def classifier(trained):
    return Classifier(trained[1])


def write(path, image, params=()):
    ok, data = cv2.imencode(path.suffix, image, list(params))
    assert ok
    path.write_bytes(data.tobytes())
    return path


def huge_png_header(path, width, height):
    """A PNG whose header claims width x height (a few bytes on disk)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + chunk(b"IEND", b""))
    return path


def test_single_image_sentence_matches_the_model(trained, classifier, mnist, tmp_path):
    digit = mnist["x_test"][0]
    path = write(tmp_path / "71.png", digit)
    p = classifier.predict(digit[None])[0]
    result = run_cli("predict", path, "--weights", trained[1])
    assert result.returncode == 0, result.stderr
    expected = f"I think this digit is a {p.argmax()} with {100 * p.max():.1f}% confidence."
    assert result.stdout.strip() == expected


def test_every_format_and_depth_and_non_ascii_paths(trained, mnist, tmp_path):
    digit = mnist["x_test"][1]  # a 2
    big = cv2.resize(255 - digit, (140, 140), interpolation=cv2.INTER_CUBIC)  # dark ink on white
    bgr = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    bgra = np.dstack([np.full_like(bgr, 20), cv2.resize(digit, (140, 140))])  # dark ink, transparent paper
    files = [
        write(tmp_path / "a.png", big), write(tmp_path / "b.jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90]),
        write(tmp_path / "c.bmp", bgr), write(tmp_path / "d.tiff", big), write(tmp_path / "e.webp", bgr),
        write(tmp_path / "f16.png", (big.astype(np.uint16) * 257)), write(tmp_path / "g_alpha.png", bgra),
        write(tmp_path / "chiffre_é_二.png", big),
    ]
    result = run_cli("predict", "--json", "--weights", trained[1], *files)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(f) for f in files]
    assert all(r["class"] == "2" for r in rows), rows


def test_folders_are_searched_and_lines_aligned(trained, digits_tree, tmp_path):
    result = run_cli("predict", "--weights", trained[1], "--top-k", "3", digits_tree / "validation" / "5")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == len(list((digits_tree / "validation" / "5").iterdir()))
    assert len({line.index(" 5 ") if " 5 " in line else None for line in lines[:5]} - {None}) <= 1
    # path, class, %, two more pairs (and "(unknown)" where the model finds the digit unlike any class)
    assert all(len(line.split()) == 1 + 2 + 2 * 2 + line.endswith("(unknown)") for line in lines)


def test_json_schema_with_top_k_and_errors(trained, mnist, tmp_path):
    good = write(tmp_path / "good.png", mnist["x_test"][2])
    result = run_cli("predict", "--json", "--top-k", "3", "--weights", trained[1], good, tmp_path / "missing.png")
    assert result.returncode == 1
    ok, bad = [json.loads(line) for line in result.stdout.splitlines()]
    assert bad == {"path": str(tmp_path / "missing.png"), "error": "file not found"}
    assert set(ok) == {"path", "class", "confidence", "unknown", "top_k"}
    assert len(ok["top_k"]) == 3 and all(isinstance(c, str) and 0 <= p <= 1 for c, p in ok["top_k"])
    assert ok["top_k"][0] == [ok["class"], ok["confidence"]]  # K entries, the answer first
    assert ok["top_k"][0][1] >= ok["top_k"][1][1] >= ok["top_k"][2][1]


def test_bad_inputs_each_get_one_line_and_the_rest_still_predicted(trained, mnist, tmp_path):
    good = write(tmp_path / "good.png", mnist["x_test"][3])
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello, I am not a picture")
    truncated = write(tmp_path / "full.png", cv2.resize(mnist["x_test"][4], (200, 200))).read_bytes()
    (tmp_path / "truncated.png").write_bytes(truncated[: len(truncated) // 2])
    write(tmp_path / "blank.png", np.full((64, 64), 255, np.uint8))
    huge_png_header(tmp_path / "huge.png", 30000, 30000)
    bad = {
        "missing.png": "file not found", "empty_dir": "folder holds no images", "empty.png": "empty file",
        "text.png": "not an image", "truncated.png": "cannot decode", "blank.png": "no ink",
        "huge.png": "30000x30000",
    }
    result = run_cli("predict", "--weights", trained[1], good, *(tmp_path / name for name in bad))
    assert result.returncode == 1
    assert result.stdout.strip().startswith(str(good))
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(bad) and "Traceback" not in result.stderr
    for name, message in bad.items():
        assert any(name in line and message in line for line in errors), (name, errors)


@pytest.mark.parametrize("damage, message", [
    ("missing", "weights file not found"),
    ("garbage", "not a readable .h5"),
    ("foreign", "not a digitcli weights file"),
])
def test_bad_weights_files(tmp_path, mnist, damage, message):
    weights = tmp_path / "w.h5"
    if damage == "garbage":
        weights.write_bytes(b"\x00" * 1000)
    elif damage == "foreign":
        import h5py

        with h5py.File(weights, "w") as f:
            f["x"] = np.zeros(3)
    image = write(tmp_path / "x.png", mnist["x_test"][0])
    result = run_cli("predict", "--weights", weights, image)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_stale_or_missing_export_is_rebuilt_not_used(copy_model, mnist, tmp_path):
    files = artifacts.ModelFiles(copy_model)
    files.onnx.write_bytes(b"corrupted export")
    image = write(tmp_path / "x.png", mnist["x_test"][0])
    result = run_cli("predict", "--weights", copy_model, image)
    assert result.returncode == 0 and "rebuilding" in result.stderr
    assert artifacts.onnx_in_step(files) is not None
    files.onnx.unlink()
    assert run_cli("predict", "--weights", copy_model, image).returncode == 0
    assert artifacts.onnx_in_step(files) is not None


def test_drawings_are_recognised(classifier, mnist):
    rng = np.random.default_rng(0)
    digits, labels = mnist["x_test"][:300], mnist["y_test"][:300]
    images = np.stack([to_mnist(make_drawing(d, rng)) for d in digits])
    drawn = (classifier.predict(images).argmax(1) == labels).mean()
    plain = (classifier.predict(digits).argmax(1) == labels).mean()
    assert drawn > plain - 0.05  # the small test model; `make bench` checks the 97% target
