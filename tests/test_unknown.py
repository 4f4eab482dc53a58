"""Images of none of the classes: generated for training, flagged "unknown" by the model,
and the flag wherever an answer is given (predict, serve, evaluate, inspect)."""

import json
import shutil

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from conftest import run_cli, train_on
from data_tools import outliers as held_apart
from digitcli import outliers
from digitcli.artifacts import check_meta
from digitcli.evaluate import evaluate_folder
from digitcli.inference import open_classifier
from digitcli.predict import predict_paths
from digitcli.preprocess import is_blank
from digitcli.serve.app import create_app


@pytest.fixture(scope="module")
def trained(digits_tree, tmp_path_factory):
    """A CNN trained long enough on `digits_tree` (8 short epochs) to tell outliers apart."""
    return train_on(digits_tree, tmp_path_factory.mktemp("model"), "outliers", epochs=8, batch_size=64)


@pytest.fixture(scope="module")
def classifier(trained):
    return open_classifier(trained[1])


@pytest.fixture(scope="module")
def letters_and_scribbles():
    """Outliers drawn apart from training's: TrueType letters and random-walk scribbles."""
    images = held_apart.make_set("letters in fonts", 60, seed=5) + held_apart.make_set("scribbles", 60, seed=5)
    return outliers.in_mnist_form(images)


def test_generated_outliers_are_exactly_asked_for_and_never_blank():
    images = outliers.make_outliers(250, outliers.DIGIT_CLASSES, seed=3)
    assert images.shape == (250, 28, 28) and images.dtype == np.uint8
    assert not is_blank(images).any()
    assert np.array_equal(images, outliers.make_outliers(250, outliers.DIGIT_CLASSES, seed=3))
    assert not np.array_equal(images, outliers.make_outliers(250, outliers.DIGIT_CLASSES, seed=4))
    assert not set(outliers.LETTERS) & outliers.DIGIT_LIKE


def test_letters_and_symbols_only_for_digit_models():
    assert set(outliers.kinds_for(outliers.DIGIT_CLASSES)) >= {"letters", "symbols"}
    other = outliers.kinds_for(["cat", "dog"])
    assert other and not {"letters", "symbols"} & set(other)


def test_model_flags_outliers_it_never_saw_and_few_real_digits(classifier, mnist, letters_and_scribbles):
    assert 0 < classifier.meta["unknown_below"] < 1
    flagged_outliers = classifier.unknown(classifier.predict(letters_and_scribbles)).mean()
    flagged_digits = classifier.unknown(classifier.predict(mnist["x_test"][:2000])).mean()
    assert flagged_outliers >= 0.5, f"only {flagged_outliers:.0%} of letters and scribbles flagged"
    assert flagged_digits <= 0.03, f"{flagged_digits:.1%} of real digits flagged"


def test_trained_without_outliers_flags_fewer(classifier, digits_tree, tmp_path, letters_and_scribbles):
    _, weights = train_on(digits_tree, tmp_path, "plain", epochs=8, batch_size=64, outliers=False)
    plain = open_classifier(weights)
    assert plain.meta["outlier_share"] == 0
    with_outliers = classifier.unknown(classifier.predict(letters_and_scribbles)).mean()
    without = plain.unknown(plain.predict(letters_and_scribbles)).mean()
    assert with_outliers > without + 0.2, (with_outliers, without)


def write_pngs(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"{i:03d}.png")
        cv2.imwrite(str(paths[-1]), 255 - image)  # dark ink on white, as a person sends them
    return paths


def test_predict_json_and_sentence_say_unknown(trained, classifier, mnist, letters_and_scribbles, tmp_path):
    paths = write_pngs(tmp_path / "mixed", [*letters_and_scribbles[:20], *mnist["x_test"][:20]])
    result = run_cli("predict", "--json", "--weights", trained[1], *paths)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    library = predict_paths([str(p) for p in paths], trained[1])
    assert [r["unknown"] for r in rows] == [p.unknown for p in library]
    assert sum(r["unknown"] for r in rows[:20]) >= 10 and sum(r["unknown"] for r in rows[20:]) <= 1
    flagged = next(p for p, r in zip(paths, rows) if r["unknown"])
    sentence = run_cli("predict", "--weights", trained[1], flagged).stdout.strip()
    row = rows[paths.index(flagged)]
    assert sentence == f"This does not look like a digit (closest: {row['class']}, {100 * row['confidence']:.1f}%)."


def test_serve_answers_carry_the_flag(trained, letters_and_scribbles, mnist):
    images = [letters_and_scribbles[0], letters_and_scribbles[1], mnist["x_test"][0]]
    files = [("files", (f"{i}.png", cv2.imencode(".png", 255 - image)[1].tobytes(), "image/png"))
             for i, image in enumerate(images)]
    classifier = open_classifier(trained[1])
    expected = classifier.unknown(classifier.predict(np.stack([outliers.in_mnist_form([255 - im])[0] for im in images])))
    with TestClient(create_app(trained[1], watch=False)) as client:
        answer = client.post("/predict", files=files).json()
    assert [p["unknown"] for p in answer["predictions"]] == expected.tolist()
    assert all(isinstance(p["unknown"], bool) for p in answer["predictions"])


def test_evaluate_counts_flagged_images(trained, digits_tree):
    ev = evaluate_folder(digits_tree, trained[1])
    assert ev.unknown.shape == ev.y_true.shape and ev.unknown_below == pytest.approx(
        open_classifier(trained[1]).meta["unknown_below"])
    assert 0 < ev.unknown.mean() <= 0.03  # the threshold flags 0.5% of the validation images it was fitted on


def test_inspect_points_at_images_of_none_of_the_classes(trained, digits_tree, letters_and_scribbles, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(digits_tree / "validation", data / "train")
    strays = write_pngs(data / "train" / "3", letters_and_scribbles[:10])
    result = run_cli("inspect", data, "--weights", trained[1], "--report-dir", tmp_path / "report")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report" / "inspect.json").read_text())
    listed = set(report["splits"]["train"]["unknown"])
    assert len(listed & {str(p) for p in strays}) >= 5
    assert len(listed) <= 5 + len(strays)
    assert "look like none of the classes" in result.stdout


@pytest.mark.parametrize("bad", ["x", -0.1, 1.5, True])
def test_a_bad_threshold_in_metadata_is_refused(bad):
    with pytest.raises(ValueError, match="unknown_below"):
        check_meta({"class_names": ["0", "1"], "unknown_below": bad}, "m.onnx.json")
