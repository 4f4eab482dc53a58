"""`digitcli train` on small folders the tests write: real outcomes, resume, safety, errors."""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from digitcli import artifacts
from digitcli.errors import DigitcliError
from digitcli.training import TrainConfig, train

from conftest import run_cli

QUIET = dict(say=lambda line: None)


def small_config(tree, weights, **overrides):
    return TrainConfig(**{"data_dir": str(tree), "epochs": 1, "batch_size": 32, "weights": str(weights), **overrides})


def test_trained_model_beats_chance_and_writes_everything(trained):
    result, weights = trained
    assert result.best_val_accuracy > 0.85  # chance is 0.10
    files = artifacts.ModelFiles(weights)
    for path in (files.h5, files.onnx, files.onnx_meta, files.history, files.plot, files.resume_state):
        assert path.is_file() and path.stat().st_size > 0, path
    meta = artifacts.read_h5_meta(weights)
    assert meta["class_names"] == [str(d) for d in range(10)] and meta["model"] == "cnn"
    history = json.loads(files.history.read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert meta["val_accuracy"] == max(h["val_accuracy"] for h in history)
    assert artifacts.onnx_in_step(files) is not None
    assert files.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_class_names_come_from_folders_and_are_kept(digits_tree, tmp_path):
    names = {"0": "zero", "1": "one", "7": "seven"}
    for split in ("train", "validation"):
        for digit, name in names.items():
            shutil.copytree(digits_tree / split / digit, tmp_path / "d" / split / name)
    result = train(small_config(tmp_path / "d", tmp_path / "w.h5", epochs=2), **QUIET)
    assert result.best_val_accuracy > 0.8
    assert artifacts.read_h5_meta(tmp_path / "w.h5")["class_names"] == ["one", "seven", "zero"]
    out = run_cli("predict", "--weights", tmp_path / "w.h5", tmp_path / "d" / "validation" / "seven")
    predicted = [line.split()[1] for line in out.stdout.splitlines()]
    assert predicted.count("seven") > 0.8 * len(predicted)


def test_same_seed_repeats_exactly(digits_tree, tmp_path):
    runs = [train(small_config(digits_tree, tmp_path / f"{k}.h5", seed=7), **QUIET).history for k in range(2)]
    strip = [[{k: v for k, v in h.items() if k != "seconds"} for h in run] for run in runs]
    assert strip[0] == strip[1]


def test_resume_continues_from_the_last_completed_epoch(digits_tree, tmp_path):
    weights = tmp_path / "w.h5"

    from digitcli.backend import import_keras

    keras = import_keras()

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(small_config(digits_tree, weights, epochs=3), extra_callbacks=[Interrupt()], **QUIET)
    first = json.loads(artifacts.ModelFiles(weights).history.read_text())["history"]
    assert len(first) == 1
    lines = []
    result = train(small_config(digits_tree, weights, epochs=3, resume=True), say=lines.append)
    assert any("Resuming cnn after epoch 1 of 3" in line for line in lines)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.history[0] == first[0]
    assert result.history[2]["val_accuracy"] > 0.85


def test_existing_weights_are_not_replaced_without_force(trained, tmp_path):
    _, weights = trained
    with pytest.raises(DigitcliError, match="--force"):
        train(TrainConfig(weights=str(weights)), **QUIET)


def test_killed_run_leaves_old_weights_intact(copy_model, digits_tree):
    before = artifacts.sha256(copy_model)
    proc = subprocess.Popen(
        [sys.executable, "-m", "digitcli", "train", "--data-dir", str(digits_tree), "--weights", str(copy_model),
         "--force", "--epochs", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    for line in proc.stdout:
        if line.startswith("Device:"):  # data read, the model about to train: no epoch can have ended
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert artifacts.sha256(copy_model) == before
    assert not [p for p in copy_model.parent.iterdir() if p.name.startswith(".")]  # no temporaries beside it
    assert run_cli("predict", "--weights", copy_model, digits_tree / "validation" / "3").returncode == 0


def test_interrupted_save_keeps_previous_file(copy_model, monkeypatch):
    before = artifacts.sha256(copy_model)

    class Exploding:
        def save(self, path, **kwargs):
            path.write_bytes(b"half a file")
            raise OSError("disk full")

    with pytest.raises(OSError):
        artifacts.save_model_h5(Exploding(), copy_model, {})
    assert artifacts.sha256(copy_model) == before
    assert sorted(p.name for p in copy_model.parent.iterdir() if p.name.startswith(".")) == []


def make_tree(root, layout):
    """layout: {split: {class: number of images}} of random-noise digits."""
    import cv2

    rng = np.random.default_rng(0)
    for split, classes in layout.items():
        for name, n in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(folder / f"{i}.png"), (rng.random((28, 28)) * 255).astype(np.uint8))
    return root


@pytest.mark.parametrize("layout, message", [
    (None, "folder not found"),
    ({"train": {}, "validation": {}}, "has no class folders"),
    ({"train": {"a": 3, "b": 0}, "validation": {"a": 2, "b": 2}}, "holds no images"),
    ({"train": {"a": 3, "b": 3}, "validation": {"a": 2, "c": 2}}, "were expected"),
])
def test_bad_data_dirs_give_one_line(tmp_path, layout, message):
    root = tmp_path / "d"
    if layout is not None:
        for split in layout:
            (root / split).mkdir(parents=True)
        make_tree(root, layout)
    result = run_cli("train", "--data-dir", root, "--weights", tmp_path / "w.h5")
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unreadable_images_are_skipped_and_reported(tmp_path):
    root = make_tree(tmp_path / "d", {"train": {"a": 20, "b": 20}, "validation": {"a": 5, "b": 5}})
    (root / "train" / "a" / "broken.png").write_text("not an image")
    (root / "train" / "b" / "empty.png").write_bytes(b"")
    result = run_cli("train", "--data-dir", root, "--weights", tmp_path / "w.h5", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "2 unreadable image(s) skipped" in result.stdout and "broken.png" in result.stdout


def test_jax_backend_trains_and_predicts(digits_tree, tmp_path):
    env = {"KERAS_BACKEND": "jax"}
    weights = tmp_path / "jax.h5"
    result = run_cli("train", "--data-dir", digits_tree, "--weights", weights, "--epochs", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert "Keras backend jax" in result.stdout
    listed = result.stdout.split(" (+ ")[1].split(")")[0].split(", ")  # "Saved W.h5 (+ a, b, ...)"
    assert all((tmp_path / name).is_file() for name in listed), listed  # no file named that was not written
    best = artifacts.read_h5_meta(weights)["val_accuracy"]
    assert best > 0.8
    out = run_cli("predict", "--weights", weights, "--json", digits_tree / "validation" / "4", env=env)
    classes = [json.loads(line)["class"] for line in out.stdout.splitlines()]
    assert classes.count("4") > 0.8 * len(classes)


def test_resume_with_more_epochs_really_trains(digits_tree, tmp_path):
    from digitcli.backend import import_keras

    keras = import_keras()
    rates = []

    class LearningRate(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    weights = tmp_path / "w.h5"
    train(small_config(digits_tree, weights, epochs=1), **QUIET)
    first = len(rates)
    result = train(small_config(digits_tree, weights, epochs=3, resume=True), extra_callbacks=[LearningRate()], **QUIET)
    assert first == 0 and min(rates[:len(rates) // 2]) > 1e-4  # the stretched schedule, not the old one's end (0)
    accuracies = [h["val_accuracy"] for h in result.history]
    assert accuracies[2] > accuracies[0]  # and it learned
