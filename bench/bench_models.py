"""`make bench-models`: train every model of `digitcli models` with its defaults on MNIST.

Prints a Markdown table (accuracy, epochs, seconds per epoch, inference path) for
BENCHMARKS.md and the README, and writes bench-out/models.json.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_tools.export import export_dataset  # noqa: E402
from data_tools.sources import load_dataset, locate_mnist_npz  # noqa: E402
from digitcli.models import MODELS  # noqa: E402

CLI = [sys.executable, "-m", "digitcli"]


def run(args):
    proc = subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"digitcli {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc


def bench_model(name, data_dir, out):
    weights = out / f"{name}.h5"
    start = time.perf_counter()
    run(["train", "--model", name, "--data-dir", data_dir, "--weights", weights, "--force"])
    wall = time.perf_counter() - start
    history = json.loads(weights.with_suffix(".history.json").read_text())["history"]
    evaluate = run(["evaluate", "--data-dir", data_dir / "validation", "--weights", weights,
                    "--report-dir", out / f"{name}-reports"])
    report = json.loads((out / f"{name}-reports" / "report.json").read_text())
    onnx_meta = weights.with_suffix(".onnx.json")
    return {"model": name, "epochs": len(history), "best_val_accuracy": max(h["val_accuracy"] for h in history),
            "evaluate_accuracy": report["accuracy"], "seconds_per_epoch": statistics.mean(h["seconds"] for h in history),
            "wall_seconds": round(wall), "onnx": onnx_meta.is_file(), "fallback_note": "Keras directly" in evaluate.stderr}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", help="mnist.npz (default: as the tests find it)")
    parser.add_argument("--out", default="bench-out")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    args.source = args.source or str(locate_mnist_npz(REPO))
    out = Path(args.out).resolve() / "models"
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(args.out).resolve() / "data"
    export_dataset(load_dataset("mnist", args.source), data_dir)
    results_path = out / "models.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in args.models.split(","):
        print(f"== {name}", flush=True)
        results[name] = {**bench_model(name, data_dir, out), "measured": time.strftime("%Y-%m-%d %H:%M")}
        print(json.dumps(results[name]), flush=True)
        results_path.write_text(json.dumps(results, indent=1) + "\n")
    print("\n| model | epochs | validation accuracy | s/epoch (2 cores) | inference |")
    print("|---|---|---|---|---|")
    for r in results.values():
        path = "ONNX via OpenCV" if r["onnx"] and not r["fallback_note"] else "Keras (slower)"
        print(f"| `{r['model']}` | {r['epochs']} | {100 * r['best_val_accuracy']:.2f}% | "
              f"{r['seconds_per_epoch']:.0f} | {path} |")


if __name__ == "__main__":
    main()
