"""Time `digitcli train` spends outside its epochs, against a baseline revision side by side.

Each round runs the default command (12 epochs) from this tree and, with --baseline, from
REV (a temporary worktree), each with an empty cache of generated and decoded images (a
first run) and with the cache its own earlier run filled, alternating. Outside = wall time of
the whole command minus the epochs' own seconds (from NAME.history.json); "first-epoch extra" is how much longer the
first epoch took than the median of the others (tracing the model, and any wait for data),
reported so that time moved into the first epoch is not hidden.

    python bench/bench_train_overhead.py --data-dir bench-out/data [--baseline REV] [--rounds 2]
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from revisions import checked_out  # noqa: E402


def one_run(tree, data_dir, epochs, cache):
    """Wall seconds of one training from `tree`, and its epochs' seconds; `cache`: the folder
    of generated images kept between runs (`digitcli.cache`)."""
    with tempfile.TemporaryDirectory() as scratch:
        weights = Path(scratch, "m.h5")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "digitcli", "train", "--data-dir", str(data_dir), "--weights",
                        str(weights), "--epochs", str(epochs)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(tree), "DIGITCLI_CACHE": str(cache)}, cwd=scratch)
        wall = time.perf_counter() - start
        seconds = [h["seconds"] for h in json.loads(weights.with_suffix(".history.json").read_text())["history"]]
    rest = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    return {"wall": round(wall, 1), "epochs": round(sum(seconds), 1), "outside": round(wall - sum(seconds), 1),
            "first_epoch_extra": round(seconds[0] - rest, 1), "epoch_seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="bench-out/data")
    parser.add_argument("--baseline", default=None, help="a git revision to measure side by side")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", default="bench-out")
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    with (checked_out(args.baseline) if args.baseline else contextlib.nullcontext()) as baseline, \
            tempfile.TemporaryDirectory() as kept:
        # each tree twice: with an empty cache (a first run), and with the one its own earlier run filled
        sources = {"this tree": REPO, **({f"baseline {args.baseline}": baseline} if args.baseline else {})}
        trees = {}
        for name, tree in sources.items():
            cache = Path(kept, name.replace(" ", "-"))
            one_run(tree, data_dir, 1, cache)  # fills it: the outliers depend on the images, not the epochs
            trees.update({f"{name}, first run": (tree, None), f"{name}, later runs": (tree, cache)})
        results = {label: [] for label in trees}
        for _ in range(args.rounds):
            for label, (tree, cache) in trees.items():
                with tempfile.TemporaryDirectory() as empty:
                    results[label].append(one_run(tree, data_dir, args.epochs, cache or empty))
                print(label, results[label][-1], flush=True)
    Path(args.out).mkdir(exist_ok=True)
    Path(args.out, "train_overhead.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n| tree | wall s | in epochs s | outside s | first-epoch extra s |\n|---|---|---|---|---|")
    for label, runs in results.items():
        for r in runs:
            print(f"| {label} | {r['wall']} | {r['epochs']} | {r['outside']} | {r['first_epoch_extra']} |")


if __name__ == "__main__":
    main()
