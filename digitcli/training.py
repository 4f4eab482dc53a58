"""Train a model from DIR/train/<class>/ and DIR/validation/<class>/ folders."""

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitcli import artifacts, splits
from digitcli.augment import AugmentedEpochs
from digitcli.backend import device_description, import_keras
from digitcli.errors import DigitcliError
from digitcli.folders import describe_skipped, list_labelled, load_labelled, load_listed
from digitcli.models import build_model, get_recipe
from digitcli.preprocess import to_model_input

WARMUP_EPOCHS = 0.3  # linear warm-up, then cosine decay to zero over the run
PROGRESS_SECONDS = 10  # without a terminal, a progress line this often within an epoch


@dataclass
class TrainConfig:
    data_dir: str = "data"
    epochs: int = None  # None: the model's default
    batch_size: int = 128
    weights: str = "mnist_neuronet.h5"
    seed: int = 0
    resume: bool = False
    force: bool = False
    model: str = "cnn"
    learning_rate: float = None  # None: the model's default
    augment: bool = None  # None: the model's default
    mixed_precision: bool = False
    validation_split: float = splits.VALIDATION_SPLIT  # used only when there is no validation/ folder


@dataclass
class TrainResult:
    files: artifacts.ModelFiles
    history: list
    best_epoch: int
    best_val_accuracy: float
    device: str
    skipped: list = field(default_factory=list)
    onnx_error: str = None


def train(config, say=print, extra_callbacks=()):
    """Run training as configured; `say` receives the lines a user should see."""
    recipe = get_recipe(config.model)
    epochs = config.epochs or recipe.epochs
    files = artifacts.ModelFiles(Path(config.weights))
    check_outputs(files, config)
    state = read_history(files) if config.resume else None

    train_set, val_set = load_splits(config, files, say)
    for name, part in (("train", train_set), ("validation", val_set)):
        if part.skipped:
            say(f"Warning: {name}: {describe_skipped(part.skipped)}")
    if state and state["class_names"] != train_set.class_names:
        raise DigitcliError(f"cannot resume: {files.resume_state} was trained on other classes")
    say(f"Data: {len(train_set.y)} training and {len(val_set.y)} validation images, "
        f"{len(train_set.class_names)} classes ({', '.join(train_set.class_names)})")

    keras = import_keras()
    keras.utils.set_random_seed(config.seed)
    make_deterministic(keras)
    if config.mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    device = device_description()
    say(f"Device: {device}")

    augment = recipe.augment if config.augment is None else config.augment
    learning_rate = config.learning_rate or (state or {}).get("learning_rate") or recipe.learning_rate
    steps_per_epoch = -(-len(train_set.y) // config.batch_size)
    total_steps = epochs * steps_per_epoch
    if state:
        model = keras.models.load_model(files.resume_state)
        history, done = state["history"], len(state["history"])
        if done >= epochs:
            raise DigitcliError(f"{files.resume_state} already has {done} epochs; ask for more with --epochs")
        # the schedule over the total asked for now, from the step reached (the same schedule
        # when the total is the first run's; stretched, so that training longer trains, when more)
        model.optimizer.learning_rate = lr_schedule(keras, learning_rate, total_steps, epochs)
        say(f"Resuming {config.model} after epoch {done} of {epochs}")
    else:
        model = build_model(config.model, len(train_set.class_names))
        compile_model(keras, model, recipe, lr_schedule(keras, learning_rate, total_steps, epochs))
        history, done = [], 0

    meta = {"model": config.model, "class_names": train_set.class_names, "seed": config.seed,
            "batch_size": config.batch_size, "augment": augment, "epochs": epochs, "learning_rate": learning_rate}
    saver = epoch_saver(keras, files, meta, history, say, epochs)
    classes = len(train_set.class_names)
    validation = (to_model_input(val_set.x), one_hot(val_set.y, classes))
    progress = epoch_progress(keras, epochs, steps_per_epoch, say)
    with AugmentedEpochs(train_set.x, train_set.y, augment, config.seed) as feeder:
        for epoch in range(done, epochs):
            x, y = feeder.get(epoch, prefetch_next=epoch + 1 < epochs)
            model.fit(x, one_hot(y, classes), batch_size=config.batch_size, validation_data=validation,
                      initial_epoch=epoch, epochs=epoch + 1, shuffle=False, verbose=0,
                      callbacks=[progress, saver, *extra_callbacks])

    best = max(history, key=lambda h: h["val_accuracy"])
    best_model, _ = artifacts.load_keras_model(files.h5)  # the best epoch's, once, for calibration and export
    calibrate(best_model, files, val_set, say)
    onnx_error = None
    try:
        artifacts.export_onnx(files, best_model)
    except Exception as exc:  # the .h5 is what matters; predict can rebuild the export
        onnx_error = f"{exc.__class__.__name__}: {exc}"
    plot_history(files, history)
    return TrainResult(files, history, best["epoch"], best["val_accuracy"], device,
                       train_set.skipped + val_set.skipped, onnx_error)


def load_splits(config, files, say):
    """Training and validation LabelledImages: the user's validation/ folder, or a
    stratified hold-out of the training images, recorded beside the model."""
    layout = splits.find_layout(config.data_dir)
    if layout.validation is not None:
        files.split.unlink(missing_ok=True)  # a split recorded by an earlier run no longer applies
        train_set = load_labelled(layout.train)
        return train_set, load_labelled(layout.validation, train_set.class_names)
    splits.check_fraction(config.validation_split)
    names, paths, labels = list_labelled(layout.train)
    mask = splits.recorded_mask(splits.read_record(files), layout.train, paths, files.split) if config.resume else None
    if mask is None:
        mask = splits.hold_out(labels, names, config.validation_split, config.seed)
    splits.write_record(files, layout.train, paths, mask, config.validation_split, config.seed)
    say(f"No validation/ folder in {config.data_dir}: holding out {mask.sum()} of {len(paths)} images "
        f"({config.validation_split:.0%} of each class, seed {config.seed}) for validation; listed in {files.split}")

    def part(keep):
        return load_listed(names, [p for p, k in zip(paths, keep) if k], labels[keep], origin=layout.train)

    return part(~mask), part(mask)


def calibrate(model, files, val_set, say):
    """Fit the temperature of the best epoch's model on the validation set; store it in NAME.h5."""
    from digitcli.calibration import apply_temperature, expected_calibration_error, fit_temperature

    probabilities = np.asarray(model.predict(to_model_input(val_set.x), batch_size=1000, verbose=0), np.float32)
    temperature = fit_temperature(probabilities, val_set.y)
    before = expected_calibration_error(probabilities, val_set.y)
    after = expected_calibration_error(apply_temperature(probabilities, temperature), val_set.y)
    artifacts.update_h5_meta(files.h5, temperature=temperature)
    say(f"Calibration: temperature {temperature:.3f} fitted on the validation set; expected calibration "
        f"error {100 * before:.2f} -> {100 * after:.2f} points")
    return temperature


def check_outputs(files, config):
    """Never replace a model the user has unless asked; resume needs its state file."""
    if config.resume:
        if not files.resume_state.is_file() or not files.history.is_file():
            raise DigitcliError(f"nothing to resume: {files.resume_state} not found")
    elif files.h5.exists() and not config.force:
        raise DigitcliError(
            f"{files.h5} exists; pass --resume to continue its training, --force to replace it, "
            "or --weights to write another file"
        )
    if not files.h5.parent.is_dir():
        raise DigitcliError(f"folder for --weights does not exist: {files.h5.parent}")


def read_history(files):
    try:
        return json.loads(files.history.read_text())
    except (OSError, ValueError) as exc:
        raise DigitcliError(f"cannot resume: {files.history} unreadable ({exc})") from exc


def make_deterministic(keras):
    """With --seed, a CPU run repeats exactly (TensorFlow needs its own switch)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def one_hot(labels, classes):
    return np.eye(classes, dtype=np.float32)[labels]


def lr_schedule(keras, learning_rate, total_steps, epochs):
    """A short linear warm-up to `learning_rate`, then cosine decay to zero at `total_steps`."""
    warmup = int(total_steps * WARMUP_EPOCHS / max(1, epochs))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10, decay_steps=max(1, total_steps - warmup),
        warmup_target=learning_rate, warmup_steps=warmup, alpha=0.0,
    )


def compile_model(keras, model, recipe, schedule):
    """Adam on `schedule`; cross-entropy with the recipe's label smoothing (targets
    0.91/0.01 instead of 1/0 at 0.1: less over-confident, more accurate)."""
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=["accuracy"])


def epoch_saver(keras, files, meta, history, say, epochs):
    """A Keras callback: after each epoch, save resume state, history and the best weights."""

    class EpochSaver(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.started
            row = {"epoch": epoch + 1, "seconds": round(seconds, 2),
                   **{k: float(logs[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy")}}
            improved = row["val_accuracy"] > max((h["val_accuracy"] for h in history), default=-1.0)
            history.append(row)
            if improved:
                artifacts.save_model_h5(self.model, files.h5, {
                    **meta, "best_epoch": row["epoch"], "val_accuracy": row["val_accuracy"]})
            with artifacts.atomic_path(files.resume_state) as tmp:
                self.model.save(tmp)
            artifacts.write_json(files.history, {**meta, "history": history})
            say(f"Epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}, accuracy {row['accuracy']:.4f}, "
                f"val_accuracy {row['val_accuracy']:.4f}, {seconds:.1f}s"
                + (f" -> saved {files.h5}" if improved else ""))

    return EpochSaver()


def epoch_progress(keras, epochs, steps, say):
    """A Keras callback showing progress within each epoch: a bar in a terminal, else a
    plain line about every 10 seconds."""
    import click

    class EpochProgress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.label, self.done, self.last = f"Epoch {epoch + 1}/{epochs}", 0, time.perf_counter()
            self.bar = click.progressbar(length=steps, label=self.label, file=sys.stderr) if sys.stderr.isatty() else None
            if self.bar:
                self.bar.__enter__()

        def on_train_batch_end(self, batch, logs=None):
            self.done += 1
            if self.bar:
                self.bar.update(1)
            elif time.perf_counter() - self.last >= PROGRESS_SECONDS:
                self.last = time.perf_counter()
                say(f"{self.label}: {self.done}/{steps} batches, loss {float(logs['loss']):.4f}")

        def on_epoch_end(self, epoch, logs=None):
            if self.bar:
                self.bar.__exit__(None, None, None)

    return EpochProgress()


def plot_history(files, history):
    from digitcli.plots import plot_history as draw

    draw(history, files.plot)
