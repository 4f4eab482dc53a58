"""The `digitcli` command line: a thin layer over the library.

Each command imports its heavy dependencies inside its body, so `--help` is instant.
"""

import contextlib
import os
import sys

import click

from digitcli import __version__
from digitcli.errors import DigitcliError


class Group(click.Group):
    """Turns interruptions and OS errors into one line instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # output piped into `head` and the like
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except OSError as exc:
            raise DigitcliError(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")) from exc


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digitcli")
def cli():
    """Train and use handwritten-digit classifiers over folders of images.

    \b
    Typical session:
      digitcli export              # MNIST -> data/train/0..9, data/validation/0..9
      digitcli train               # the CNN, 12 epochs -> mnist_neuronet.h5
      digitcli predict 71.png      # class and confidence
      digitcli evaluate            # accuracy, confusion matrix, pictures in reports/
      digitcli explain 71.png      # inside the network: every layer, and where it looked
    """


@cli.command()
@click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False),
              help="Where to write DIR/train/<class>/ and DIR/validation/<class>/.")
@click.option("--dataset", default="mnist", show_default=True, type=click.Choice(["mnist", "fashion-mnist"]))
@click.option("--source", type=click.Path(), default=None,
              help="A Keras-style .npz or a folder of the four IDX files (.gz or not). "
                   "Default: Keras's download/cache (Fashion-MNIST: Debian's copy when installed).")
@click.option("--force", is_flag=True, help="Rewrite the export's own files even if they are in place.")
def export(data_dir, dataset, source, force):
    """Write a dataset as one PNG per image in class folders."""
    from data_tools.export import export_dataset
    from data_tools.sources import load_dataset

    data = load_dataset(dataset, source)
    total = sum(len(y) for _, _, y in data.splits())
    with contextlib.ExitStack() as stack:
        bar = None

        def progress(done):  # the bar appears only once there is something to write
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(
                    click.progressbar(length=total, label=f"Writing {total} PNGs", file=sys.stderr))
            bar.update(done)

        summary = export_dataset(data, data_dir, force=force, progress=progress)
    if summary.already_complete:
        click.echo(f"{data_dir} already holds the complete {dataset} export; nothing to do (--force rewrites it).")
        return
    click.echo(f"Wrote {summary.written} files under {data_dir}/ ({total - summary.written} already in place).")
    names = data.class_names
    width = max(len(n) for n in names + ["class"])
    click.echo(f"{'class':>{width}}  " + "  ".join(f"{split:>10}" for split in summary.counts))
    for name in names:
        click.echo(f"{name:>{width}}  " + "  ".join(f"{c.get(name, 0):>10}" for c in summary.counts.values()))
    click.echo(f"{'total':>{width}}  " + "  ".join(f"{sum(c.values()):>10}" for c in summary.counts.values()))


@cli.command()
@click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False),
              help="Holds train/<class>/ and validation/<class>/, or train/<class>/ alone, or <class>/ "
                   "folders directly (then part of each class is held out for validation).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Default: the model's (cnn: 12; 4 is the classic run).")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--weights", default="mnist_neuronet.h5", show_default=True, type=click.Path(dir_okay=False),
              help="Where to save the best epoch's model; sidecar files go beside it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Makes a CPU run repeatable.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last completed epoch.")
@click.option("--force", is_flag=True, help="Replace an existing weights file.")
@click.option("--model", "model_name", default="cnn", show_default=True, help="See `digitcli models`.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak learning rate. Default: the model's.")
@click.option("--augment/--no-augment", default=None, help="On-the-fly augmentation. Default: the model's.")
@click.option("--mixed-precision", is_flag=True, help="float16 compute for GPUs that benefit.")
@click.option("--validation-split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
              show_default=True, help="Fraction of each class held out when DIR has no validation/ folder.")
@click.option("--outliers/--no-outliers", default=None,
              help="Mix generated non-class images (letters, shapes, scribbles, textures) into training, so "
                   "that the model can say an image looks like none of its classes. Default: on (the linear "
                   "model: off, it cannot learn both).")
def train(data_dir, epochs, batch_size, weights, seed, resume, force, model_name, learning_rate, augment,
          mixed_precision, validation_split, outliers):
    """Train a model on class-per-folder images (DIR/train, DIR/validation)."""
    from digitcli.training import TrainConfig, train as run

    config = TrainConfig(data_dir, epochs, batch_size, weights, seed, resume, force, model_name,
                         learning_rate, augment, mixed_precision, validation_split, outliers)
    result = run(config, say=click.echo)
    ran = len(result.history)
    total = sum(h["seconds"] for h in result.history)
    click.echo(f"Done: best validation accuracy {100 * result.best_val_accuracy:.2f}% at epoch {result.best_epoch} "
               f"({ran} epoch{'s' * (ran != 1)}, {total:.0f}s of training on {result.device}).")
    files = result.files
    written = ([] if result.onnx_error else [files.onnx]) + [files.history, files.plot, files.resume_state]
    click.echo(f"Saved {files.h5} (+ {', '.join(f.name for f in written)})")
    if result.onnx_error:
        click.echo(f"Warning: no ONNX export ({result.onnx_error}); predict will retry or use Keras.", err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--weights", default="mnist_neuronet.h5", show_default=True, type=click.Path(dir_okay=False))
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Also show the next most likely classes (JSON: top_k lists all K, the answer first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def predict(paths, weights, top_k, as_json):
    """Classify images (files or folders, searched recursively)."""
    import json

    from digitcli.inference import open_classifier
    from digitcli.predict import describe, expand_paths, predict_items

    items = expand_paths(paths)
    classifier = open_classifier(weights)
    if len(items) < 2000:
        results = predict_items(items, classifier, top_k)
    else:
        with click.progressbar(length=len(items), label=f"Reading {len(items)} images", file=sys.stderr) as bar:
            results = predict_items(items, classifier, top_k, progress=bar.update)
    if as_json:
        lines = [json.dumps(r.as_json(), ensure_ascii=False) for r in results]
    elif len(results) == 1 and not results[0].error:
        lines = [describe(results[0], classifier.class_names)]
    else:
        width = max(len(r.path) for r in results)
        lines = [f"{r.path:<{width}}  {r.class_name}  {100 * r.confidence:5.1f}%"
                 + "".join(f"  {name} {100 * p:5.1f}%" for name, p in r.top_k[1:]) + ("  (unknown)" * r.unknown)
                 for r in results if not r.error]
    if lines:
        click.echo("\n".join(lines))  # one write: 10,000 echo calls cost a tenth of a second
    failed = [r for r in results if r.error]
    if not as_json:
        for r in failed:
            click.echo(f"Error: {r.path}: {r.error}", err=True)
    if failed:
        sys.exit(1)


@cli.command()
@click.option("--data-dir", default="data/validation", show_default=True, type=click.Path(file_okay=False),
              help="A class-per-folder tree DIR/<class>/<image>, or a data folder with validation/ in it. "
                   "Where train held images out of DIR, only those are scored.")
@click.option("--weights", default="mnist_neuronet.h5", show_default=True, type=click.Path(dir_okay=False))
@click.option("--report-dir", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Where confusion_matrix.png, misclassified.png and report.json go.")
def evaluate(data_dir, weights, report_dir):
    """Score a model on labelled folders; write pictures and a JSON report."""
    from digitcli.evaluate import as_text, evaluate_folder, write_reports

    ev = evaluate_folder(data_dir, weights)
    click.echo(as_text(ev))
    written = write_reports(ev, report_dir)
    click.echo("\nWrote " + ", ".join(str(p) for p in written))


@cli.command()
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--report-dir", default="reports/inspect", show_default=True, type=click.Path(file_okay=False),
              help="Where inspect.json, samples.png, classes.png, mean_digits.png and pixels.png go.")
@click.option("--weights", default=None, type=click.Path(dir_okay=False),
              help="A trained model: also list the images that look like none of its classes.")
def inspect(data_dir, report_dir, weights):
    """Look at a data folder before training on it.

    Counts per split and class, sizes and colour modes, blank and unreadable files, exact
    duplicates within a split and across train and validation (leakage), class imbalance;
    pictures of what the model will see; with --weights, the images that look like none of
    the model's classes. Problems are findings: the exit status is 0.
    """
    from digitcli.inspection import as_text, flag_unknown, inspect_listed, list_splits, write_report

    kind, listed = list_splits(data_dir)
    total = sum(len(paths) for _, paths, _ in listed.values())
    with click.progressbar(length=total, label=f"Reading {total} images", file=sys.stderr) as bar:
        report, scans = inspect_listed(data_dir, kind, listed, bar.update)
    if weights:
        flag_unknown(report, scans, weights)
    click.echo(as_text(report))
    written = write_report(report, scans, report_dir)
    click.echo("\nWrote " + ", ".join(str(p) for p in written))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--weights", default="mnist_neuronet.h5", show_default=True, type=click.Path(dir_okay=False),
              help="NAME.h5 (its ONNX export is used) or a .onnx file from `digitcli convert`.")
@click.option("--out", "out_dir", default="explain", show_default=True, type=click.Path(file_okay=False),
              help="Where STEM.explain.png (and with --json STEM.explain.json) go.")
@click.option("--json", "with_json", is_flag=True,
              help="Also write the numbers: probabilities, per-layer activation statistics, saliency maps.")
def explain(paths, weights, out_dir, with_json):
    """Look inside the model: one picture per image of what each layer saw and why it answered.

    \b
    Each picture shows the image and what the model saw (28x28); where it looked
    (HiResCAM on the last convolution) and which pixels raise or lower the answer
    (input gradient); what would make it the runner-up; the class probabilities; the
    first layer's filters (or weight templates) and every layer's activations.
    Runs from the ONNX export: no TensorFlow needed.
    """
    from digitcli.explain import explain_paths

    failed = 0
    for path, ex, written, error in explain_paths(paths, weights, out_dir, with_json):
        if error:
            failed += 1
            click.echo(f"Error: {path}: {error}", err=True)
            continue
        click.echo(f"{path}: {ex.verdict()} -> " + ", ".join(str(w) for w in written))
    if failed:
        sys.exit(1)


@cli.command()
@click.option("--weights", default="mnist_neuronet.h5", show_default=True, type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (another address "
              "than loopback exposes the model: use --token).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (uvicorn's); one per core is a good start.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Larger request bodies are refused with 413.")
@click.option("--token", envvar="DIGITCLI_TOKEN", default=None,
              help="Require Authorization: Bearer TOKEN on every endpoint but the health checks "
                   "[env: DIGITCLI_TOKEN].")
@click.option("--batch-ms", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Let concurrent requests wait up to this long to share one model call; 0 answers each "
                   "at once. 0.5-1 ms measured best on a 2-core CPU (BENCHMARKS.md).")
def serve(weights, host, port, workers, max_upload_mb, token, batch_ms):
    """Serve the model over HTTP: JSON API, Open Inference Protocol v2, metrics and a drawing page.

    \b
    POST /predict              an image body, or multipart/form-data with image files
    GET  /                     the drawing page
    GET  /v2/models/NAME       metadata; POST /v2/models/NAME/infer: [N, 28, 28, 1] FP32
    GET  /v2/health/live|ready health checks
    GET  /metrics              Prometheus metrics
    """
    from digitcli.serve.run import serve as run

    run(weights, host, port, workers, max_upload_mb, token, batch_ms, say=click.echo,
        warn=lambda line: click.echo(line, err=True))


@cli.command()
@click.option("--weights", default="mnist_neuronet.h5", show_default=True, type=click.Path(dir_okay=False))
@click.option("--to", "formats", default="onnx", show_default=True,
              help="Comma-separated: onnx, litert (.tflite), saved-model (TensorFlow SavedModel), "
                   "web (a static folder: the drawing page answering in the browser, offline).")
@click.option("--quantize", default="none", show_default=True,
              help="Comma-separated: none (fp32), fp16, int8 (calibrated on training images); "
                   "each applies to the formats that offer it.")
@click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False),
              help="Labelled images: every copy is checked on the images `evaluate` would score here.")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Folder for the files and checks.json. Default: NAME.converted beside the weights.")
@click.option("--force", is_flag=True, help="Write into an existing --out folder, replacing its files of the same names.")
def convert(weights, formats, quantize, data_dir, out, force):
    """Convert the model for phones, browsers and other runtimes; check every copy.

    Each file is run by its own runtime (onnxruntime, ai-edge-litert, TensorFlow) on the
    validation images beside the Keras model; one that disagrees beyond its format's
    tolerance is not written, and the exit status is 1. `predict`, `evaluate` and `serve`
    take the .onnx and .tflite files as --weights.
    """
    from digitcli.convert.checks import as_table
    from digitcli.convert.run import convert as run

    split = [f.strip() for f in formats.split(",") if f.strip()]
    levels = ["fp32" if q.strip() == "none" else q.strip() for q in quantize.split(",") if q.strip()]
    results = run(weights, split, levels, data_dir, out, force, say=lambda line: click.echo(line, err=True))
    click.echo(as_table(results))
    refused = [r for r in results if r.failure]
    for r in refused:
        click.echo(f"Error: {r.file} not written: it {r.failure}", err=True)
    if refused:
        sys.exit(1)


@cli.command()
def models():
    """List the models `train --model` offers, with parameter counts."""
    from digitcli.models import MODELS, build_model

    click.echo(f"{'name':<10} {'parameters':>11}  {'epochs':>6}  {'augment':>7}  description")
    for name, recipe in MODELS.items():
        params = build_model(name, 10).count_params()
        click.echo(f"{name:<10} {params:>11,}  {recipe.epochs:>6}  {'yes' if recipe.augment else 'no':>7}  "
                   f"{recipe.summary}")


def main():
    """The console command. Once a command has loaded TensorFlow (train, convert) and finished,
    the process ends at once: Python's own exit would spend 1.5-2 s in TensorFlow's teardown."""
    try:
        cli(prog_name="digitcli")
    except SystemExit as done:
        if "tensorflow" in sys.modules and (done.code is None or isinstance(done.code, int)):
            from digitcli.backend import exit_now

            exit_now(done.code or 0)
        raise
