"""Folders without a split: stratified, repeatable hold-out, recorded and reused by evaluate."""

import json
import shutil

import numpy as np
import pytest

from digitcli import artifacts, splits
from digitcli.errors import DigitcliError
from digitcli.evaluate import evaluate_folder
from digitcli.training import TrainConfig, train

from conftest import run_cli

CLASSES = ("0", "1", "7")


def flat_tree(digits_tree, root, per_class=40):
    """root/<class>/*.png: the first `per_class` training digits of a few classes."""
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for path in sorted((digits_tree / "train" / name).iterdir())[:per_class]:
            shutil.copy(path, root / name / path.name)
    return root


def quick_train(data_dir, weights, **overrides):
    config = TrainConfig(data_dir=str(data_dir), epochs=1, batch_size=16, weights=str(weights), **overrides)
    lines = []
    return train(config, say=lines.append), lines


def test_hold_out_is_stratified_and_repeatable():
    labels = np.repeat(np.arange(3), [50, 20, 7])
    mask = splits.hold_out(labels, ["a", "b", "c"], 0.1, seed=3)
    assert [int(mask[labels == c].sum()) for c in range(3)] == [5, 2, 1]  # every class keeps one at least
    assert np.array_equal(mask, splits.hold_out(labels, ["a", "b", "c"], 0.1, seed=3))
    assert not np.array_equal(mask, splits.hold_out(labels, ["a", "b", "c"], 0.1, seed=4))
    assert splits.hold_out(labels, ["a", "b", "c"], 0.5, seed=3).sum() == 25 + 10 + 4


@pytest.mark.parametrize("labels, fraction, message", [
    ([0, 0, 0, 1], 0.1, "class 'b' has 1 image"),
    ([0, 0, 1, 1], 0.0, "between 0 and 1"),
    ([0, 0, 1, 1], 1.0, "between 0 and 1"),
])
def test_hold_out_errors(labels, fraction, message):
    with pytest.raises(DigitcliError, match=message):
        splits.hold_out(np.array(labels), ["a", "b"], fraction)


def test_flat_folder_is_split_recorded_and_evaluated_on_the_held_out_files(digits_tree, tmp_path):
    data = flat_tree(digits_tree, tmp_path / "mine")
    weights = tmp_path / "m.h5"
    result, lines = quick_train(data, weights, validation_split=0.25)
    assert any("holding out 30 of 120 images" in line for line in lines)
    record = json.loads(artifacts.ModelFiles(weights).split.read_text())
    assert len(record["validation"]) == 30 and record["validation_split"] == 0.25
    assert sorted({p.split("/")[0] for p in record["validation"]}) == list(CLASSES)
    ev = evaluate_folder(data, weights, say=lambda line: None)
    scored = sorted(splits.relative(p, data) for p in ev.paths)
    assert scored == record["validation"]
    assert abs(ev.accuracy - result.best_val_accuracy) < 1e-6  # the same 30 images train validated on
    again, _ = quick_train(data, tmp_path / "again.h5", validation_split=0.25)
    assert json.loads(artifacts.ModelFiles(tmp_path / "again.h5").split.read_text()) == record


def test_train_only_layout_through_the_cli(digits_tree, tmp_path):
    data = tmp_path / "d"
    flat_tree(digits_tree, data / "train", per_class=20)
    weights = tmp_path / "w.h5"
    out = run_cli("train", "--data-dir", data, "--weights", weights, "--epochs", "1", "--batch-size", "16")
    assert out.returncode == 0, out.stderr
    assert "holding out 6 of 60 images (10% of each class, seed 0)" in out.stdout
    out = run_cli("evaluate", "--data-dir", data, "--weights", weights, "--report-dir", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    assert "held out for validation" in out.stdout
    assert json.loads((tmp_path / "r" / "report.json").read_text())["count"] == 6


def test_given_validation_folder_is_used_and_a_stale_record_dropped(digits_tree, tmp_path):
    data = tmp_path / "d"
    for split in ("train", "validation"):
        flat_tree(digits_tree, data / split, per_class=12)
    weights = tmp_path / "w.h5"
    stale = artifacts.ModelFiles(weights).split
    stale.write_text("{}")
    result, lines = quick_train(data, weights)
    assert not stale.exists() and not any("holding out" in line for line in lines)
    assert len(evaluate_folder(data, weights, say=lambda line: None).y_true) == 36


@pytest.mark.parametrize("make, args, message", [
    (lambda d: [(d / "train" / "0").mkdir(parents=True), (d / "3").mkdir()], [], "mixes train/ with other folders"),
    (lambda d: (d / "validation" / "0").mkdir(parents=True), [], "has validation/ but no train/"),
    (lambda d: (d / "0").mkdir(parents=True), ["--validation-split", "1.5"], "1.5"),
])
def test_layout_errors_are_one_line(tmp_path, make, args, message):
    make(tmp_path / "d")
    out = run_cli("train", "--data-dir", tmp_path / "d", "--weights", tmp_path / "w.h5", *args)
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr


def test_a_moved_flat_folder_is_still_scored_on_its_held_out_files_only(digits_tree, tmp_path):
    from digitcli.evaluate import evaluate_folder

    flat = tmp_path / "flat"
    shutil.copytree(digits_tree / "train", flat)
    weights = tmp_path / "m.h5"
    train(TrainConfig(data_dir=str(flat), epochs=1, batch_size=64, weights=str(weights)), say=lambda line: None)
    held_out = json.loads((tmp_path / "m.split.json").read_text())["validation"]
    moved = tmp_path / "renamed"
    flat.rename(moved)
    ev = evaluate_folder(moved, weights)
    assert len(ev.y_true) == len(held_out) < 1000
    (moved / held_out[0]).unlink()
    with pytest.raises(DigitcliError, match="1 of the .* not under"):
        evaluate_folder(moved, weights)
