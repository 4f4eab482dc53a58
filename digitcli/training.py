"""Train a model from DIR/train/<class>/ and DIR/validation/<class>/ folders."""

import json
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitcli import artifacts, calibration, outliers, splits
from digitcli.backend import device_description, import_keras
from digitcli.errors import DigitcliError
from digitcli.feeder import Feeder
from digitcli.folders import describe_skipped, list_labelled
from digitcli.inference import Classifier
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
    outliers: bool = None  # mix generated non-class images into training, so the model can say "none of
    # these"; None: the model's default


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
    history = state["history"] if state else []
    done = len(history)
    if done >= epochs:
        raise DigitcliError(f"{files.resume_state} already has {done} epochs; ask for more with --epochs")
    augment = recipe.augment if config.augment is None else config.augment

    # a resumed run keeps its own (runs from before outliers had none)
    mix_outliers = recipe.outliers if config.outliers is None else config.outliers
    outlier_share = state.get("outlier_share", 0.0) if state else outliers.SHARE if mix_outliers else 0.0
    with Feeder(augment, config.seed, outlier_share) as feeder:
        loading = load_splits(config, files, feeder, say)
        if state and state["class_names"] != loading.class_names:
            raise DigitcliError(f"cannot resume: {files.resume_state} was trained on other classes")
        # the outliers and the first epoch's copy are under way before TensorFlow's import:
        # when the cache holds the images and outliers, the copy is ready about when TensorFlow is
        feeder.generate(loading.listed, loading.class_names)
        feeder.prepare(done)
        # outliers no epoch holds, for calibration: made in the worker while the first epoch trains
        held_out = feeder.outliers_apart(outliers.HELD_OUT, loading.class_names, config.seed + 1_000_003)
        keras = import_keras()
        train_set, val_set = loading.training.result(), loading.validation.result()
        for name, part in (("train", train_set), ("validation", val_set)):
            if part.skipped:
                say(f"Warning: {name}: {describe_skipped(part.skipped)}")
        mixed_in = outliers.REPEATS * outliers.outlier_count(loading.listed, outlier_share)
        printed = outliers.printed_count(loading.listed, train_set.class_names, outlier_share)
        say(f"Data: {len(train_set.y)} training and {len(val_set.y)} validation images, "
            f"{len(train_set.class_names)} classes ({', '.join(train_set.class_names)})"
            + (f"; {mixed_in} generated outliers ({', '.join(outliers.kinds_for(train_set.class_names))}) "
               "mixed into each epoch" if mixed_in else "")
            + (f", and {printed} printed digits in the same fonts" if printed else ""))

        keras.utils.set_random_seed(config.seed)
        make_deterministic(keras)
        if config.mixed_precision:
            keras.config.set_dtype_policy("mixed_float16")
        device = device_description()
        say(f"Device: {device}")

        learning_rate = config.learning_rate or (state or {}).get("learning_rate") or recipe.learning_rate
        steps_per_epoch = -(-(len(train_set.y) + printed + mixed_in) // config.batch_size)
        total_steps = epochs * steps_per_epoch
        if state:
            model = keras.models.load_model(files.resume_state, custom_objects={"ClassAccuracy": class_accuracy(keras)})
            # the schedule over the total asked for now, from the step reached (the same schedule
            # when the total is the first run's; stretched, so that training longer trains, when more)
            model.optimizer.learning_rate = lr_schedule(keras, learning_rate, total_steps, epochs)
            say(f"Resuming {config.model} after epoch {done} of {epochs}")
        else:
            model = build_model(config.model, len(train_set.class_names))
            compile_model(keras, model, recipe, lr_schedule(keras, learning_rate, total_steps, epochs))

        meta = {"model": config.model, "class_names": train_set.class_names, "seed": config.seed,
                "batch_size": config.batch_size, "augment": augment, "epochs": epochs, "learning_rate": learning_rate,
                "outlier_share": outlier_share}
        saver = epoch_saver(keras, files, meta, history, say, epochs)
        classes = len(train_set.class_names)
        progress = epoch_progress(keras, epochs, steps_per_epoch, say)
        batches = epoch_batches(keras, feeder, done, epochs, config.batch_size, train_set.x.shape[1:], classes)
        calibration.load_fitter_in_background()  # while the epochs train, not after them
        model.fit(batches, steps_per_epoch=steps_per_epoch, initial_epoch=done, epochs=epochs,
                  validation_data=(to_model_input(val_set.x), one_hot(val_set.y, classes)),
                  validation_batch_size=config.batch_size, shuffle=False, verbose=0,
                  callbacks=[progress, saver, *extra_callbacks])
        plotted = feeder.run(plot_history, files, history)  # matplotlib in the worker, beside what follows

        best = max(history, key=lambda h: h["val_accuracy"])
        # the best epoch's network, for calibration and export: the one in memory when it is the last
        best_model = model if best is history[-1] else artifacts.load_keras_model(files.h5)[0]
        onnx_error = None
        try:
            artifacts.export_onnx(files, best_model)
        except Exception as exc:  # the .h5 is what matters; predict can rebuild the export
            onnx_error = f"{exc.__class__.__name__}: {exc}"
        # through the export when there is one: onnxruntime answers 12,000 images in a third of Keras's time
        network = (lambda x: best_model.predict(x, batch_size=1000, verbose=0)) if onnx_error else \
            Classifier(files.h5, rebuild=False, opencv_below=0).raw_predict
        calibrate(network, files, val_set, held_out.result(), say)
        plotted.result()
    return TrainResult(files, history, best["epoch"], best["val_accuracy"], device,
                       train_set.skipped + val_set.skipped, onnx_error)


class Loading(NamedTuple):
    """Images on their way from the worker: futures of LabelledImages, the class names, and
    how many training images were listed (what the outliers' count follows)."""

    training: Future
    validation: Future
    class_names: list
    listed: int


def load_splits(config, files, feeder, say):
    """Start loading the training and validation images in `feeder`'s process: the user's
    validation/ folder, or a stratified hold-out of the training images, recorded beside the
    model. A Loading."""
    layout = splits.find_layout(config.data_dir)
    if layout.validation is not None:
        files.split.unlink(missing_ok=True)  # a split recorded by an earlier run no longer applies
        names, paths, labels = list_labelled(layout.train)
        validation = feeder.load(*list_labelled(layout.validation, names), layout.validation)
        return Loading(feeder.load(names, paths, labels, layout.train, training=True), validation, names, len(paths))
    splits.check_fraction(config.validation_split)
    names, paths, labels = list_labelled(layout.train)
    mask = splits.recorded_mask(splits.read_record(files), layout.train, paths, files.split) if config.resume else None
    if mask is None:
        mask = splits.hold_out(labels, names, config.validation_split, config.seed)
    splits.write_record(files, layout.train, paths, mask, config.validation_split, config.seed)
    say(f"No validation/ folder in {config.data_dir}: holding out {mask.sum()} of {len(paths)} images "
        f"({config.validation_split:.0%} of each class, seed {config.seed}) for validation; listed in {files.split}")

    def part(keep, training=False):
        return feeder.load(names, [p for p, k in zip(paths, keep) if k], labels[keep], layout.train, training)

    validation = part(mask)  # the smaller set first: the first epoch's copy waits for both
    return Loading(part(~mask, training=True), validation, names, int((~mask).sum()))


def calibrate(network, files, val_set, held_out, say):
    """Fit the best epoch's temperature on the validation set, and the confidence below which
    an image looks like none of the classes (`calibration.fit_unknown_threshold`), checked on
    `held_out` generated outliers; store both in NAME.h5 (and its export's record).
    `network`: model input -> the best epoch's softmax output."""
    from digitcli.calibration import (apply_temperature, expected_calibration_error, fit_temperature,
                                      fit_unknown_threshold)

    # one call: Keras traces the model anew at each
    both = np.asarray(network(to_model_input(np.concatenate([val_set.x, held_out]))), np.float32)
    probabilities, outlier_probabilities = both[:len(val_set.x)], both[len(val_set.x):]
    temperature = fit_temperature(probabilities, val_set.y)
    calibrated = apply_temperature(probabilities, temperature)
    before = expected_calibration_error(probabilities, val_set.y)
    after = expected_calibration_error(calibrated, val_set.y)
    threshold = fit_unknown_threshold(calibrated)
    outlier_confidence = apply_temperature(outlier_probabilities, temperature).max(1)
    artifacts.update_meta(files, temperature=temperature, unknown_below=threshold)
    say(f"Calibration: temperature {temperature:.3f} fitted on the validation set; expected calibration "
        f"error {100 * before:.2f} -> {100 * after:.2f} points")
    say(f"Unknown: below {100 * threshold:.1f}% confidence an image looks like none of the classes; "
        f"{100 * np.mean(calibrated.max(1) < threshold):.2f}% of the validation images and "
        f"{100 * np.mean(outlier_confidence < threshold):.1f}% of {len(held_out)} held-out generated outliers are")
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


def epoch_batches(keras, feeder, first, epochs, batch_size, image_shape, classes):
    """The training batches of epochs `first`..`epochs - 1`, for one `fit` call (Keras copies
    arrays into its input pipeline at every call: a call per epoch cost 0.6-1.7 s each).
    Epochs arrive as uint8 and become model input batch by batch (a whole epoch as float32
    is 188 MB to allocate). Under TensorFlow a tf.data pipeline batches them in C++."""

    def epoch_arrays(epoch):
        x, y = feeder.get(int(epoch), prefetch_next=epoch + 1 < epochs)
        return x, one_hot(y, classes)

    if keras.backend.backend() != "tensorflow":
        def generate():
            for epoch in range(first, epochs):
                x, y = epoch_arrays(epoch)
                for start in range(0, len(y), batch_size):
                    yield to_model_input(x[start:start + batch_size]), y[start:start + batch_size]
        return generate()
    import tensorflow as tf

    def epoch_tensors(epoch):
        x, y = tf.numpy_function(epoch_arrays, [epoch], (tf.uint8, tf.float32), stateful=True)
        return tf.ensure_shape(x, (None, *image_shape)), tf.ensure_shape(y, (None, classes))

    def model_input(x, y):  # as to_model_input does
        return tf.cast(x, tf.float32)[..., None] / 255.0, y

    # No autotuning (nothing here is tuned): its thread sleeps up to a minute between rounds,
    # and fit's end waited for it to wake up, 9-37 s in 1 run of 3 (seen with gdb).
    options = tf.data.Options()
    options.autotune.enabled = False
    return (tf.data.Dataset.range(first, epochs).map(epoch_tensors)
            .flat_map(lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size))
            .map(model_input).prefetch(4).with_options(options))


def one_hot(labels, classes):
    """One-hot rows; label -1 (a generated outlier) gets the uniform distribution."""
    return np.vstack([np.eye(classes, dtype=np.float32), np.full((1, classes), 1 / classes, np.float32)])[labels]


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
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=[class_accuracy(keras)()])


def class_accuracy(keras):
    """The metric class for accuracy over the class images only (an outlier's target is the
    uniform distribution: it has no right answer)."""

    class ClassAccuracy(keras.metrics.Mean):
        def __init__(self, name="accuracy", **kwargs):
            super().__init__(name=name, **kwargs)

        def update_state(self, y_true, y_pred, sample_weight=None):
            ops = keras.ops
            labelled = ops.cast(ops.max(y_true, axis=-1) > 0.5, "float32")
            hits = ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1)), "float32")
            return super().update_state(hits, sample_weight=labelled)

    return ClassAccuracy


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
