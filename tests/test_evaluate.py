"""`digitcli evaluate`: the numbers train reported, the pictures, the errors."""

import json

import cv2

from conftest import run_cli


def test_accuracy_equals_what_train_reported(trained, digits_tree, tmp_path):
    result, weights = trained
    out = run_cli("evaluate", "--data-dir", digits_tree / "validation", "--weights", weights,
                  "--report-dir", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert abs(report["accuracy"] - result.best_val_accuracy) < 1e-6
    assert f"Accuracy: {100 * report['accuracy']:.2f}%" in out.stdout
    assert "precision" in out.stdout and "Confusion matrix" in out.stdout
    assert report["count"] == 500 and sum(map(sum, report["confusion_matrix"])) == 500
    assert sum(row["support"] for row in report["per_class"].values()) == 500
    flagged = report["unknown_count"]
    assert flagged == len(report["unknown"]) and f"Unknown: {flagged} of 500" in out.stdout
    for name in ("confusion_matrix.png", "misclassified.png"):
        image = cv2.imread(str(tmp_path / "r" / name))
        assert image is not None and min(image.shape[:2]) > 300


def test_class_mismatch_and_missing_inputs(trained, digits_tree, tmp_path):
    _, weights = trained
    (tmp_path / "other" / "x").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "other" / "x" / "a.png"), cv2.imread(str(next((digits_tree / "validation" / "1").iterdir()))))
    for args, message in [
        (["--data-dir", tmp_path / "other"], "were expected"),
        (["--data-dir", tmp_path / "nowhere"], "folder not found"),
        (["--data-dir", digits_tree / "validation", "--weights", tmp_path / "none.h5"], "weights file not found"),
    ]:
        out = run_cli("evaluate", "--weights", weights, "--report-dir", tmp_path / "r", *args)
        assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
