"""Class-per-folder image trees: ROOT/<class>/* -> arrays in MNIST form."""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitcli.cache import kept_reads
from digitcli.errors import DigitcliError
from digitcli.images import ImageReadError, find_images, read_image
from digitcli.preprocess import SIZE, NoInkError, dark_frames, is_blank, mnist_sized, to_mnist

CHUNK = 256
KEEP_FROM = 1000  # folders of at least this many images are kept in MNIST form between runs (digitcli.cache)


@dataclass
class LabelledImages:
    """Images in MNIST form with integer labels into `class_names`."""

    class_names: list
    x: np.ndarray  # (N, 28, 28) uint8
    y: np.ndarray  # (N,) int32
    paths: list
    skipped: list  # (path, reason) for files that could not be used


def class_folders(root):
    """Sorted class names under `root`; clear errors for a missing or empty tree."""
    root = Path(root)
    if not root.is_dir():
        raise DigitcliError(f"folder not found: {root}")
    names = sorted(d.name for d in os.scandir(root) if d.is_dir() and not d.name.startswith("."))
    if not names:
        raise DigitcliError(f"{root} has no class folders (expected {root}/<class>/<image>)")
    return names


def list_labelled(root, class_names=None):
    """(class names, image paths, integer labels) under ROOT/<class>/*; `class_names`
    (e.g. the model's) must match the folders."""
    names = class_folders(root)
    if class_names is not None and list(class_names) != names:
        raise DigitcliError(
            f"{root} has classes {', '.join(names)} but {', '.join(class_names)} were expected"
        )
    paths, labels = [], []
    for label, name in enumerate(names):
        found = find_images(Path(root, name))
        if not found:
            raise DigitcliError(f"class folder {Path(root, name)} holds no images")
        paths += found
        labels += [label] * len(found)
    return names, paths, np.array(labels, np.int32)


def load_labelled(root, class_names=None, progress=None):
    """Load ROOT/<class>/* images in MNIST form."""
    return load_listed(*list_labelled(root, class_names), progress=progress, origin=root)


def load_listed(names, paths, labels, progress=None, origin="the data folder"):
    """Load the listed images in MNIST form, skipping (and recording) the unusable ones."""
    x, failures = load_images(paths, progress) if len(paths) < KEEP_FROM else kept_reads(load_images, paths, progress)
    keep = np.array([i not in failures for i in range(len(paths))], bool)
    skipped = [(paths[i], failures[i]) for i in sorted(failures)]
    if not keep.any():
        raise DigitcliError(f"none of the {len(paths)} images under {origin} could be read ({skipped[0][1]})")
    return LabelledImages(names, x[keep], np.asarray(labels, np.int32)[keep],
                          [p for p, k in zip(paths, keep) if k], skipped)


def load_images(paths, progress=None):
    """Read and preprocess `paths` in parallel: (N, 28, 28) uint8 array, {index: error}.

    Threads only decode (OpenCV releases the GIL); files that may already be in MNIST
    form are checked afterwards for the whole batch at once, which is what makes a
    folder of exported PNGs fast.
    """
    x = np.zeros((len(paths), SIZE, SIZE), np.uint8)
    maybe_mnist, failures = [], {}

    def work(start):
        for i in range(start, min(start + CHUNK, len(paths))):
            try:
                image = read_image(paths[i])
                if mnist_sized(image):
                    x[i] = image
                    maybe_mnist.append(i)
                else:
                    x[i] = to_mnist(image)
            except (ImageReadError, NoInkError) as exc:
                failures[i] = str(exc)
        return min(CHUNK, len(paths) - start)

    for done in map_chunks(work, len(paths)):
        if progress:
            progress(done)
    candidates = np.array(sorted(maybe_mnist), np.intp)
    for i in candidates[~dark_frames(x[candidates]) | is_blank(x[candidates])]:  # to_mnist checks or converts
        try:
            x[i] = to_mnist(x[i])
        except NoInkError as exc:
            failures[i] = str(exc)
    return x, failures


def map_chunks(work, count):
    """Yield `work(start)` for each CHUNK of `count` items as it finishes: in threads when
    there is more than one chunk, else directly (one image need not import or start a pool)."""
    if count <= CHUNK:
        if count:
            yield work(0)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(4, (os.cpu_count() or 1) + 1)) as pool:
        yield from pool.map(work, range(0, count, CHUNK))


def describe_skipped(skipped, limit=3):
    """'N images skipped (a: why, b: why, ...)' or '' when none were."""
    if not skipped:
        return ""
    shown = "; ".join(f"{p}: {why}" for p, why in skipped[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return f"{len(skipped)} unreadable image(s) skipped ({shown}{more})"
