"""`digitcli inspect`: planted problems are found by path; the pictures show something."""

import json
import shutil

import cv2
import numpy as np
import pytest

from conftest import run_cli


@pytest.fixture
def planted(mnist, tmp_path):
    """A small split tree: class 'a' 20+5 images, class 'b' 4+5 (imbalanced), with a
    duplicate inside train, a train image copied into validation under another name and
    as another format, an unreadable file, a blank image and a 64x48 colour photo."""
    root = tmp_path / "d"
    x = mnist["x_test"]
    counts = {"train": {"a": 20, "b": 4}, "validation": {"a": 5, "b": 5}}
    k = 0
    for split, classes in counts.items():
        for name, n in classes.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(root / split / name / f"{i}.png"), x[k])
                k += 1
    problems = {
        "inside": root / "train" / "a" / "copy-of-3.png",
        "leak": root / "validation" / "b" / "leaked.bmp",
        "unreadable": root / "train" / "b" / "broken.png",
        "blank": root / "validation" / "a" / "empty.png",
        "photo": root / "train" / "a" / "photo.jpg",
    }
    shutil.copy(root / "train" / "a" / "3.png", problems["inside"])
    cv2.imwrite(str(problems["leak"]), x[1])  # train/a/1.png's pixels, in another file format
    problems["unreadable"].write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    cv2.imwrite(str(problems["blank"]), np.full((28, 28), 0, np.uint8))
    photo = cv2.resize(255 - x[50], (64, 48))
    cv2.imwrite(str(problems["photo"]), cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR))
    return root, problems


def test_every_planted_problem_is_reported_by_path(planted, tmp_path):
    root, problems = planted
    out = run_cli("inspect", root, "--report-dir", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r" / "inspect.json").read_text())
    train, validation = report["splits"]["train"], report["splits"]["validation"]
    assert train["images"] == 20 + 4 + 3 and validation["images"] == 5 + 5 + 2
    assert train["classes"]["a"]["images"] == 22 and train["classes"]["b"]["unreadable"] == 1
    assert train["duplicate_groups"] == [[str(root / "train" / "a" / "3.png"), str(problems["inside"])]]
    assert report["leakage"] == [{"train": [str(root / "train" / "a" / "1.png")], "validation": [str(problems["leak"])]}]
    assert [u["path"] for u in train["unreadable"]] == [str(problems["unreadable"])]
    assert validation["blank"] == [str(problems["blank"])]
    assert train["formats"] == {"28x28 gray": 25, "64x48 colour": 1}
    assert train["imbalance"] == {"ratio": 4.4, "largest": ["a", 22], "smallest": ["b", 5]}
    for text in (str(problems["leak"]), str(problems["unreadable"]), str(problems["blank"]), "4.40",
                 "Leakage: 1 validation images", "64x48 colour 1"):
        assert text in out.stdout, text


def test_pictures_are_written_and_show_something(planted, tmp_path):
    root, _ = planted
    assert run_cli("inspect", root, "--report-dir", tmp_path / "r").returncode == 0
    for name in ("samples.png", "classes.png", "mean_digits.png", "pixels.png"):
        image = cv2.imread(str(tmp_path / "r" / name), cv2.IMREAD_GRAYSCALE)
        assert image is not None and min(image.shape) > 100, name
        assert image.std() > 20, f"{name} looks blank"


def test_flat_folder_and_errors(planted, tmp_path):
    root, _ = planted
    out = run_cli("inspect", root / "validation", "--report-dir", tmp_path / "r")
    assert out.returncode == 0 and "class folders, no split" in out.stdout
    assert list(json.loads((tmp_path / "r" / "inspect.json").read_text())["splits"]) == ["all"]
    (tmp_path / "empty").mkdir()
    for folder, message in [(tmp_path / "nowhere", "folder not found"), (tmp_path / "empty", "no class folders")]:
        out = run_cli("inspect", folder, "--report-dir", tmp_path / "r")
        assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
