"""Temperature scaling and calibration error: known cases, the stored temperature, old models."""

import json

import h5py
import numpy as np
import pytest

from digitcli import artifacts
from digitcli.calibration import apply_temperature, expected_calibration_error, fit_temperature, reliability
from digitcli.inference import Classifier
from digitcli.preprocess import to_model_input

from conftest import run_cli


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_recovers_a_known_temperature_and_keeps_predictions(true_temperature):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 10))
    labels = np.array([rng.choice(10, p=p) for p in softmax(logits)])  # labels drawn from softmax(logits)
    reported = softmax(logits * true_temperature).astype(np.float32)  # logits T times too large (or small)
    fitted = fit_temperature(reported, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    calibrated = apply_temperature(reported, fitted)
    assert np.array_equal(calibrated.argmax(1), reported.argmax(1))
    assert np.allclose(calibrated.sum(1), 1, atol=1e-5)
    assert expected_calibration_error(calibrated, labels) < 0.5 * expected_calibration_error(reported, labels)


def test_ece_of_a_known_case():
    # 10 images at confidence 0.8 of which 6 right, 10 at 0.95 of which all right:
    # gaps 0.2 and 0.05, each half of the images -> ECE 0.125.
    probabilities = np.zeros((20, 2))
    probabilities[:10] = [0.8, 0.2]
    probabilities[10:] = [0.95, 0.05]
    labels = np.array([0] * 6 + [1] * 4 + [0] * 10)
    assert expected_calibration_error(probabilities, labels, bins=15) == pytest.approx(0.125)
    confidence, accuracy, counts = reliability(probabilities, labels, bins=15)
    assert counts.sum() == 20 and counts[12] == 10 and counts[14] == 10  # 0.8 -> bin 12, 0.95 -> bin 14
    assert accuracy[12] == pytest.approx(0.6) and confidence[14] == pytest.approx(0.95)
    assert expected_calibration_error(np.eye(3), np.arange(3)) == 0.0  # sure and right


def test_training_stores_a_temperature_that_evaluate_applies(trained, digits_tree, tmp_path):
    _, weights = trained
    temperature = artifacts.read_h5_meta(weights)["temperature"]
    assert 0.05 < temperature < 20 and temperature != 1.0
    assert Classifier(weights).temperature == temperature
    out = run_cli("evaluate", "--data-dir", digits_tree / "validation", "--weights", weights, "--report-dir", tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["temperature"] == temperature and 0 <= report["ece"] < 0.05
    assert f"expected calibration error {100 * report['ece']:.2f} points" in out.stdout
    assert (tmp_path / "calibration.png").stat().st_size > 10000


def test_a_new_temperature_keeps_the_export_paired_only_where_it_was(copy_model):
    files = artifacts.ModelFiles(copy_model)
    artifacts.update_meta(files, temperature=0.7)
    assert artifacts.read_h5_meta(copy_model)["temperature"] == 0.7
    assert artifacts.onnx_in_step(files)["temperature"] == 0.7  # paired with the new .h5, no export again
    files.onnx.write_bytes(files.onnx.read_bytes() + b"\0")  # an export that no longer matches
    artifacts.update_meta(files, temperature=0.8)
    assert artifacts.read_h5_meta(copy_model)["temperature"] == 0.8
    assert artifacts.onnx_in_step(files) is None
    assert json.loads(files.onnx_meta.read_text())["temperature"] == 0.7  # its record untouched


def test_model_without_a_temperature_still_loads_and_predicts(copy_model, digits_tree):
    with h5py.File(copy_model, "a") as f:  # as written before calibration existed
        meta = json.loads(f.attrs["digitcli"])
        del meta["temperature"]
        f.attrs["digitcli"] = json.dumps(meta)
    classifier = Classifier(copy_model, say=lambda line: None)  # the stale export is rebuilt
    assert classifier.temperature == 1.0
    images = np.stack([np.zeros((28, 28), np.uint8), np.eye(28, dtype=np.uint8) * 255])
    assert np.array_equal(classifier.predict(images), classifier.raw_predict(to_model_input(images)))
    out = run_cli("predict", "--weights", copy_model, next((digits_tree / "validation" / "3").iterdir()))
    assert out.returncode == 0 and "I think this digit is a" in out.stdout
