"""Try variations of the cnn recipe over several seeds; prints mean/min validation accuracy.

Meant for a machine with a GPU (`KERAS_BACKEND=jax` works without TensorFlow); each variant
changes the recipe, the optimizer or the augmentation strength and nothing else.
    python bench/sweep_cnn.py --data-dir data --seeds 0,1,2 --only base,lr3e-3
"""

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digitcli import augment, models, training  # noqa: E402

VARIANTS = {  # name: (recipe changes, Adam keyword arguments, augmentation constants, batch size)
    "base": ({}, {}, {}, 128),  # the cnn recipe as it is now
    "lr2e-3": ({"learning_rate": 2e-3}, {}, {}, 128),
    "lr3e-3": ({"learning_rate": 3e-3}, {}, {}, 128),  # the default until 2026-11-23
    "lr5e-3": ({"learning_rate": 5e-3}, {}, {}, 128),
    "ls0.05": ({"label_smoothing": 0.05}, {}, {}, 128),
    "ls0.2": ({"label_smoothing": 0.2}, {}, {}, 128),
    "aug-weak": ({}, {}, {"ROTATION_DEG": 5.0, "SCALE": 0.05, "SHEAR": 0.05, "SHIFT_PX": 1.5}, 128),
    "aug-strong": ({}, {}, {"ROTATION_DEG": 12.0, "SCALE": 0.12, "SHEAR": 0.15, "SHIFT_PX": 3.0}, 128),
    "wd1e-4": ({}, {"weight_decay": 1e-4}, {}, 128),
    "lr5e-3-wd1e-4": ({"learning_rate": 5e-3}, {"weight_decay": 1e-4}, {}, 128),
    "lr5e-3-bs64": ({"learning_rate": 5e-3}, {}, {}, 64),
    "ema": ({}, {"use_ema": True, "ema_momentum": 0.99}, {}, 128),
    "bs64": ({}, {}, {}, 64),
    "bs256-lr5e-3": ({"learning_rate": 5e-3}, {}, {}, 256),
}


def run_variant(name, data_dir, seeds, workdir):
    """Best validation accuracy (%) per seed of `digitcli train` with variant `name` patched in."""
    recipe_changes, adam_kwargs, aug_constants, batch_size = VARIANTS[name]
    base_recipe, base_aug = models.MODELS["cnn"], {k: getattr(augment, k) for k in aug_constants}
    base_adam = training.import_keras().optimizers.Adam
    models.MODELS["cnn"] = dataclasses.replace(base_recipe, **recipe_changes)
    training.import_keras().optimizers.Adam = lambda lr: base_adam(lr, **adam_kwargs)
    for key, value in aug_constants.items():
        setattr(augment, key, value)
    try:
        accuracies = []
        for seed in seeds:
            config = training.TrainConfig(data_dir=data_dir, seed=seed, batch_size=batch_size, force=True,
                                          weights=str(Path(workdir, f"{name}-{seed}.h5")))
            result = training.train(config, say=lambda line: None)
            accuracies.append(result.best_val_accuracy * 100)
        return accuracies
    finally:
        models.MODELS["cnn"] = base_recipe
        training.import_keras().optimizers.Adam = base_adam
        for key, value in base_aug.items():
            setattr(augment, key, value)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--only", default=",".join(VARIANTS))
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.only.split(","):
            started = time.perf_counter()
            try:
                results[name] = accuracies = run_variant(name, args.data_dir, seeds, workdir)
            except Exception as exc:  # one broken variant should not end the sweep
                print(f"{name:<14} failed: {exc.__class__.__name__}: {exc}", flush=True)
                continue
            print(f"{name:<14} best val acc {' '.join(f'{a:.2f}' for a in accuracies)}  "
                  f"mean {statistics.mean(accuracies):.3f}  min {min(accuracies):.2f}  "
                  f"({time.perf_counter() - started:.0f}s)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
