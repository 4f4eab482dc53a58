"""Which images train and which validate.

A data folder is laid out one of three ways:
- `DIR/train/<class>/*` and `DIR/validation/<class>/*`: used as they are;
- `DIR/train/<class>/*` alone, or class folders directly (`DIR/<class>/*`): a stratified,
  seeded fraction of every class is held out for validation, and the held-out files are
  recorded beside the model (`NAME.split.json`) so that `evaluate` scores exactly those.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitcli import artifacts
from digitcli.errors import DigitcliError

VALIDATION_SPLIT = 0.1


@dataclass(frozen=True)
class Layout:
    """Where the class folders are: `train`, and `validation` when the user split them."""

    train: Path
    validation: Path = None  # None: hold out a fraction of `train`


def find_layout(root):
    """The Layout of data folder `root`; one clear error for a folder that mixes layouts."""
    root = Path(root)
    if not root.is_dir():
        raise DigitcliError(f"folder not found: {root}")
    subdirs = {d.name for d in os.scandir(root) if d.is_dir() and not d.name.startswith(".")}
    if "train" not in subdirs:
        if "validation" in subdirs:
            raise DigitcliError(f"{root} has validation/ but no train/; add {root}/train/<class>/ folders")
        return Layout(root)
    others = sorted(subdirs - {"train", "validation"})
    if others:
        raise DigitcliError(f"{root} mixes train/ with other folders ({', '.join(others[:3])}); use either "
                            f"{root}/train/<class>/ (and validation/<class>/) or {root}/<class>/ alone")
    return Layout(root / "train", root / "validation" if "validation" in subdirs else None)


def check_fraction(fraction):
    if not 0 < fraction < 1:
        raise DigitcliError(f"--validation-split must be between 0 and 1 (exclusive), not {fraction}")


def hold_out(labels, class_names, fraction=VALIDATION_SPLIT, seed=0):
    """Boolean mask of the validation images: `fraction` of each class, at least one,
    chosen by a generator seeded with `seed` (the same files every time)."""
    check_fraction(fraction)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for label, name in enumerate(class_names):
        members = np.flatnonzero(labels == label)
        count = max(1, round(fraction * len(members)))
        if count >= len(members):
            raise DigitcliError(f"class {name!r} has {len(members)} image(s): too few to hold out "
                                f"{fraction:g} for validation and keep one to train on")
        mask[rng.permutation(members)[:count]] = True
    return mask


def write_record(files, root, paths, mask, fraction, seed):
    """Record which files of `root` were held out, beside the model."""
    held_out = sorted(relative(p, root) for p, m in zip(paths, mask) if m)
    artifacts.write_json(files.split, {"data_dir": str(Path(root).resolve()), "validation_split": fraction,
                                       "seed": seed, "validation": held_out})


def read_record(files):
    """The split recorded beside the model, or None."""
    try:
        return json.loads(files.split.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DigitcliError(f"{files.split}: unreadable split record ({exc})") from exc


def recorded_mask(record, root, paths, where="the split record"):
    """The held-out mask of `paths` (files under `root`) as `record` lists them, matched by
    paths relative to the folder, so that a moved or renamed folder is still recognised.
    None when the record is of another folder (it was recorded elsewhere and none of its
    files is here); DigitcliError when only some of its files are found (never score
    training images as validation ones)."""
    if record is None:
        return None
    held_out, here = set(record["validation"]), [relative(p, root) for p in paths]
    mask = np.array([name in held_out for name in here], bool)
    if not mask.any() and Path(record["data_dir"]) != Path(root).resolve():
        return None
    missing = sorted(held_out.difference(here))
    if missing:
        raise DigitcliError(f"{len(missing)} of the {len(held_out)} images held out for validation ({where}) are not "
                            f"under {root} (first: {missing[0]}); restore them, or evaluate a folder with validation/")
    return mask


def relative(path, root):
    """`path` relative to `root`, with forward slashes (as recorded)."""
    return os.path.relpath(path, root).replace(os.sep, "/")
