"""`make bench`: every speed, memory and accuracy claim, each against its baseline in this run.

Writes bench-out/results.json and prints Markdown tables for BENCHMARKS.md. Takes about
20 minutes on a 2-core machine (three full 4-epoch trainings).
"""

import argparse
import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_unknown import bench_unknown  # noqa: E402
from data_tools.drawings import make_drawing  # noqa: E402
from data_tools.export import export_dataset  # noqa: E402
from data_tools.sources import load_dataset, locate_mnist_npz  # noqa: E402
from digitcli.preprocess import to_gray, to_uint8  # noqa: E402

CLI = [sys.executable, "-m", "digitcli"]


def timed_child(args):
    """Run a command to completion: (seconds, its own peak RSS in MB, stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise SystemExit(f"{' '.join(map(str, args))} failed:\n{err.read()}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def bench_export(source, out):
    """Our exporter vs a plain single-process cv2.imwrite loop, interleaved, fresh folders each time."""
    dataset = load_dataset("mnist", source)

    def plain_loop(root):
        for split, x, y in dataset.splits():
            for c in dataset.class_names:
                os.makedirs(root / split / c, exist_ok=True)
            for i, label in enumerate(y):
                cv2.imwrite(str(root / split / dataset.class_names[label] / f"{i}.png"), x[i])

    times = {"plain cv2.imwrite loop": [], "digitcli export": []}
    for rep in range(3):
        for name, fn in (("plain cv2.imwrite loop", plain_loop), ("digitcli export", lambda r: export_dataset(dataset, r))):
            root = out / f"export-{rep}-{name.split()[0]}"
            os.sync()
            start = time.perf_counter()
            fn(root)
            times[name].append(time.perf_counter() - start)
    for root in out.glob("export-*"):
        shutil.rmtree(root)
    ratio = statistics.median(p / o for p, o in zip(times["plain cv2.imwrite loop"], times["digitcli export"]))
    return {"seconds": {k: [round(t, 2) for t in v] for k, v in times.items()}, "speedup_median": round(ratio, 2)}


def bench_input_pipeline(data_dir, batch_size=128, legacy_steps=100):
    """Seconds per epoch for the same CNN fed three ways, measured in this one process."""
    from digitcli.feeder import Feeder
    from digitcli.backend import import_keras
    from digitcli.folders import load_labelled
    from digitcli.models import build_model
    from digitcli.preprocess import to_model_input

    import_keras()  # quietly, before the legacy module pulls TensorFlow in
    from keras.src.legacy.preprocessing.image import ImageDataGenerator  # the baseline only

    def fresh():
        model = build_model("cnn", 10)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    start = time.perf_counter()
    train = load_labelled(data_dir / "train")
    load_seconds = time.perf_counter() - start
    n = len(train.y)
    steps = -(-n // batch_size)
    result = {"batch_size": batch_size, "images": n, "load_seconds": round(load_seconds, 1)}

    model = fresh()
    model.fit(to_model_input(train.x[:640]), train.y[:640], batch_size=batch_size, verbose=0)  # warm-up
    x = to_model_input(train.x)
    start = time.perf_counter()
    model.fit(x, train.y, batch_size=batch_size, epochs=1, verbose=0)
    result["floor_in_memory_no_augmentation"] = round(time.perf_counter() - start, 1)

    model = fresh()
    model.fit(to_model_input(train.x[:640]), train.y[:640], batch_size=batch_size, verbose=0)
    with Feeder(augment=True, seed=0) as feeder:
        feeder.load(train.class_names, train.paths, train.y, data_dir / "train", training=True).result()
        start = time.perf_counter()
        for epoch in range(2):
            xe, ye = feeder.get(epoch, prefetch_next=epoch == 0)
            model.fit(to_model_input(xe), ye, batch_size=batch_size, initial_epoch=epoch, epochs=epoch + 1, verbose=0)
        result["digitcli_augmented"] = round((time.perf_counter() - start) / 2, 1)

    legacy = ImageDataGenerator(rescale=1 / 255, rotation_range=8, width_shift_range=2, height_shift_range=2,
                                zoom_range=0.08, shear_range=6)
    flow = legacy.flow_from_directory(str(data_dir / "train"), target_size=(28, 28), color_mode="grayscale",
                                      class_mode="sparse", batch_size=batch_size)
    model = fresh()
    model.fit(flow, steps_per_epoch=10, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(flow, steps_per_epoch=legacy_steps, epochs=1, verbose=0)
    result["legacy_flow_from_directory"] = round((time.perf_counter() - start) * steps / legacy_steps, 1)
    result["legacy_over_digitcli"] = round(result["legacy_flow_from_directory"] / result["digitcli_augmented"], 2)
    result["augmented_over_floor"] = round(result["digitcli_augmented"] / result["floor_in_memory_no_augmentation"], 2)
    return result


def bench_training(data_dir, out, seeds):
    """The default `digitcli train` (12 epochs) per seed: best accuracy, time, peak RSS."""
    runs = []
    for seed in seeds:
        weights = out / f"cnn-seed{seed}.h5"
        seconds, rss, stdout = timed_child(CLI + ["train", "--data-dir", str(data_dir), "--weights", str(weights),
                                                  "--seed", str(seed), "--force"])
        history = json.loads(weights.with_suffix(".history.json").read_text())["history"]
        calibration = re.search(r"temperature ([\d.]+) .* error ([\d.]+) -> ([\d.]+) points", stdout)
        runs.append({"seed": seed, "best_val_accuracy": max(h["val_accuracy"] for h in history),
                     "epoch_seconds": [h["seconds"] for h in history], "wall_seconds": round(seconds, 1),
                     "peak_rss_mb": round(rss), "temperature": float(calibration.group(1)),
                     "ece_points_before": float(calibration.group(2)), "ece_points_after": float(calibration.group(3))})
        print(f"  seed {seed}: {100 * runs[-1]['best_val_accuracy']:.2f}%", flush=True)
    accuracies = [r["best_val_accuracy"] for r in runs]
    return {"runs": runs, "mean": statistics.mean(accuracies), "min": min(accuracies)}


def bench_predict(data_dir, weights, out):
    """One image end to end (median of 7 runs) and 10,000 images, vs the tutorial's way."""
    one = next((data_dir / "validation" / "7").iterdir())
    # Bytecode as `pip install` leaves it, also where PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(REPO / "digitcli", quiet=1)
    singles = [timed_child(CLI + ["predict", str(one), "--weights", str(weights)])[0] for _ in range(7)]
    tutorial = ("import cv2, keras, numpy as np, sys; m = keras.models.load_model(sys.argv[1], compile=False); "
                "x = cv2.imread(sys.argv[2], cv2.IMREAD_GRAYSCALE).astype('float32') / 255; "
                "print(m.predict(x[None, :, :, None], verbose=0).argmax())")
    tutorial_times = [timed_child([sys.executable, "-c", tutorial, str(weights), str(one)])[0] for _ in range(3)]
    many, _, stdout = timed_child(CLI + ["predict", str(data_dir / "validation"), "--json", "--weights", str(weights)])
    rows = [json.loads(line) for line in stdout.splitlines()]
    correct = sum(Path(r["path"]).parent.name == r["class"] for r in rows)
    evaluate_seconds, _, _ = timed_child(CLI + ["evaluate", "--data-dir", str(data_dir / "validation"),
                                                "--weights", str(weights), "--report-dir", str(out / "reports")])
    return {"one_image_seconds_median": round(statistics.median(singles), 3),
            "tutorial_one_image_seconds_median": round(statistics.median(tutorial_times), 2),
            "one_image_speedup": round(statistics.median(tutorial_times) / statistics.median(singles), 1),
            "folder_images": len(rows), "folder_seconds": round(many, 2),
            "images_per_second": round(len(rows) / many), "folder_accuracy": correct / len(rows),
            "evaluate_seconds": round(evaluate_seconds, 2)}


def bench_drawings(source, weights, count=10000):
    """Accuracy on drawing-style versions of the MNIST test digits (see data_tools.drawings)."""
    from digitcli.folders import load_images
    from digitcli.inference import Classifier

    dataset = load_dataset("mnist", source)
    rng = np.random.default_rng(2026)
    folder = Path(weights).parent / "drawings"
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        paths.append(folder / f"{i}.png")
        cv2.imwrite(str(paths[-1]), make_drawing(dataset.x_test[i], rng))
    images, failures = load_images(paths)
    ok = [i for i in range(count) if i not in failures]
    predicted = Classifier(weights).predict(images[ok]).argmax(1)
    shutil.rmtree(folder)
    return {"count": count, "unreadable": len(failures),
            "accuracy": float((predicted == dataset.y_test[:count][ok]).sum() / count)}


def bench_stress(source, weights_list, out, shown=8):
    """Accuracy of each seed's model on every stress set (data_tools.stress, from the 10,000
    MNIST test digits), MNIST validation accuracy and calibration error, and a picture of
    seed 0's mistakes per set."""
    from data_tools.stress import SETS, make_set, sources
    from digitcli.calibration import expected_calibration_error
    from digitcli.inference import Classifier
    from digitcli.preprocess import NoInkError, to_mnist

    dataset = load_dataset("mnist", source)
    classifiers = [Classifier(w) for w in weights_list]
    results, rows = {}, []
    for k, classifier in enumerate(classifiers):
        p = classifier.predict(dataset.x_test)
        results.setdefault("mnist validation", []).append(float((p.argmax(1) == dataset.y_test).mean()))
        results.setdefault("ece validation", []).append(expected_calibration_error(p, dataset.y_test))
    for name in SETS:
        start = time.perf_counter()
        images, labels = make_set(name, dataset.x_test, dataset.y_test)
        seen = []
        for image in images:
            try:
                seen.append(to_mnist(image))
            except NoInkError:
                seen.append(np.zeros((28, 28), np.uint8))
        seen = np.stack(seen)
        accuracies = []
        for k, classifier in enumerate(classifiers):
            predicted = classifier.predict(seen).argmax(1)
            accuracies.append(float((predicted == labels).mean()))
            if k == 0:
                wrong = np.flatnonzero(predicted != labels)[:shown]
                origin = sources(name, dataset.x_test)
                thumbs = [np.hstack([np.zeros((28, 28), np.uint8) if origin is None else dataset.x_test[origin[i]],
                                     thumbnail(images[i]),
                                     seen[i]]) for i in wrong]
                rows.append((name, thumbs, [f"{labels[i]}->{predicted[i]}" for i in wrong]))
        results[name] = accuracies
        results[name + " (images)"] = len(labels)
        print(f"  {name}: {len(labels)} images, {[round(100 * a, 2) for a in accuracies]} ({time.perf_counter() - start:.0f} s)",
              flush=True)
    plot_stress_failures(rows, REPO / "docs" / "stress_failures.png")
    return results


def thumbnail(image, side=28):
    """The image as given, gray, cropped to a square around its ink (a small digit on a large
    canvas stays visible), at `side` pixels."""
    gray = to_gray(image)
    ys, xs = np.nonzero(np.abs(gray - np.median(gray)) > 0.25)
    if len(ys):
        half = int(0.6 * max(np.ptp(ys), np.ptp(xs), 8))
        cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
        gray = gray[max(0, cy - half):cy + half + 1, max(0, cx - half):cx + half + 1]
    return cv2.resize(to_uint8(gray), (side, side), interpolation=cv2.INTER_AREA)


def plot_stress_failures(rows, path, shown=8):
    """Per stress set, seed 0's first mistakes: the MNIST digit it was made from (none for
    printed), the image as given, and what the model saw."""
    from digitcli.plots import STYLE, plt, save

    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, axes = plt.subplots(len(rows), 1, figsize=(1.9 * shown, 1.05 * len(rows) + 0.6))
        for ax, (name, thumbs, captions) in zip(axes, rows):
            strip = np.full((28, shown * 90), 255, np.uint8)
            for j, thumb in enumerate(thumbs):
                strip[:, j * 90:j * 90 + 84] = thumb
            ax.imshow(strip, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([j * 90 + 42 for j in range(len(captions))], captions, fontsize=7)
            if not thumbs:
                ax.text(shown * 45, 14, "no mistakes", ha="center", va="center", fontsize=9)
            ax.set_yticks([])
            ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
            ax.tick_params(length=0)
        fig.suptitle("Stress-set mistakes (seed 0): MNIST digit it came from | the image as given | "
                     "what the model saw; true->predicted")
        save(fig, path)


def bench_convert(data_dir, weights, out, source):
    """`digitcli convert` to every format and quantization (each checked in its own runtime),
    then the web folder in Chromium: 20 traced test digits answered in the page against
    `predict` on the same canvases, and how soon after each stroke."""
    sys.path.insert(0, str(REPO / "tests"))
    from browser import CHROMIUM, CHROMIUM_ARGS, draw_traced, static_server
    from digitcli.convert.run import convert
    from digitcli.predict import predict_paths
    from playwright.sync_api import sync_playwright

    target = out / "converted"
    checks = convert(weights, ["onnx", "litert", "saved-model", "web"], ["fp32", "fp16", "int8"], str(data_dir),
                     target, force=True, say=lambda line: None)
    result = {"checks": [c.as_json() for c in checks]}
    folder = target / f"{Path(weights).stem}.int8.web"
    server, url = static_server(folder)
    with np.load(source) as data:
        x, y = data["x_test"], data["y_test"]
    picks = [int(np.flatnonzero(y == d)[k]) for d in range(10) for k in (0, 1)]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(url)
        page.wait_for_function("() => window.digitcli.ready === true", timeout=20000)
        shown, latencies, pngs = draw_traced(page, x[picks], Path(tmp))
        expected = [p.class_name for p in predict_paths([str(p) for p in pngs], weights)]
        browser.close()
    server.terminate()
    result["web"] = {"folder": folder.name, "same_as_predict": sum(a == b for a, b in zip(shown, expected)),
                     "of": len(shown), "correct": sum(a == str(y[i]) for a, i in zip(shown, picks)),
                     "latency_ms_median": round(statistics.median(latencies), 1), "latency_ms_max": round(max(latencies), 1),
                     "folder_bytes": sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", help="mnist.npz (default: as the tests find it)")
    parser.add_argument("--out", default="bench-out")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--only", default="export,pipeline,train,predict,drawings,stress,unknown,convert")
    args = parser.parse_args()
    args.source = args.source or str(locate_mnist_npz(REPO))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    data_dir = out / "data"
    export_dataset(load_dataset("mnist", args.source), data_dir)
    only = args.only.split(",")
    steps = [("export", lambda: bench_export(args.source, out)),
             ("pipeline", lambda: bench_input_pipeline(data_dir)),
             ("train", lambda: bench_training(data_dir, out, [int(s) for s in args.seeds.split(",")])),
             ("predict", lambda: bench_predict(data_dir, out / "cnn-seed0.h5", out)),
             ("drawings", lambda: bench_drawings(args.source, out / "cnn-seed0.h5")),
             ("stress", lambda: bench_stress(args.source, [out / f"cnn-seed{s}.h5" for s in args.seeds.split(",")],
                                             out)),
             ("unknown", lambda: bench_unknown([out / f"cnn-seed{s}.h5" for s in args.seeds.split(",")], out,
                                               source=args.source)),
             ("convert", lambda: bench_convert(data_dir, out / "cnn-seed0.h5", out, args.source))]
    for name, step in steps:
        if name in only:
            print(f"== {name}", flush=True)
            results[name] = step()
            results[name]["measured"] = time.strftime("%Y-%m-%d %H:%M")
            print(json.dumps(results[name], indent=1), flush=True)
            results_path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
