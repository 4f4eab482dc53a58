"""`digitcli inspect`: what a data folder holds, before anyone trains on it.

Per split and class: image counts, sizes and colour modes, blank and unreadable files,
exact duplicates (by a hash of the decoded pixels, not file names) within a split and
across splits (leakage), class imbalance; plus the images in MNIST form for pictures.
"""

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitcli import splits
from digitcli.folders import list_labelled
from digitcli.images import ImageReadError, read_image
from digitcli.preprocess import SIZE, NoInkError, to_gray, to_mnist

PROGRESS_EVERY = 500
SHOWN = 5  # problem paths printed per kind; inspect.json lists them all


@dataclass
class SplitScan:
    """What one split's files hold, image by image."""

    name: str
    class_names: list
    paths: list
    labels: np.ndarray
    images: np.ndarray  # (N, 28, 28) uint8 in MNIST form; zeros where unusable
    formats: list  # "WxH mode" per image, None where unreadable
    digests: list  # hash of the decoded pixels, None where unreadable
    unreadable: dict  # index -> why
    blank: set = field(default_factory=set)  # indices with no ink
    histogram: np.ndarray = None  # counts of 8-bit gray values over all readable images

    @property
    def usable(self):
        return np.array([i not in self.unreadable and i not in self.blank for i in range(len(self.paths))], bool)


def image_format(image):
    """'28x28 gray', '640x480 colour', '100x100 colour+alpha', with ' 16-bit' where so."""
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    mode = {1: "gray", 3: "colour", 4: "colour+alpha"}.get(channels, f"{channels}-channel")
    return f"{w}x{h} {mode}" + (" 16-bit" if image.dtype == np.uint16 else "")


def digest(image):
    """Hash of the decoded pixels, shape and type: equal for exact duplicates whatever the file."""
    h = hashlib.blake2b(image.tobytes(), digest_size=16)
    h.update(f"{image.shape}{image.dtype}".encode())
    return h.hexdigest()


def gray8(image):
    """The image as 8-bit gray, for the pixel histogram."""
    if image.dtype == np.uint8 and image.ndim == 2:
        return image
    return (to_gray(image) * 255 + 0.5).astype(np.uint8)


def scan_split(name, listing, progress=None):
    """Read every listed image (class names, paths, labels) once: a SplitScan."""
    names, paths, labels = listing
    n = len(paths)
    images = np.zeros((n, SIZE, SIZE), np.uint8)
    formats, digests, unreadable, blank = [None] * n, [None] * n, {}, set()
    histogram = np.zeros(256, np.int64)
    # One thread: for small files the per-image numpy work holds the GIL, and threads ran 2.5x slower.
    for i, path in enumerate(paths):
        try:
            image = read_image(path)
        except ImageReadError as exc:
            unreadable[i] = str(exc)
            continue
        formats[i], digests[i] = image_format(image), digest(image)
        histogram += np.bincount(gray8(image).ravel(), minlength=256)
        try:
            images[i] = to_mnist(image)
        except NoInkError:
            blank.add(i)
        if progress and (i + 1) % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress:
        progress(n % PROGRESS_EVERY)
    return SplitScan(name, names, paths, labels, images, formats, digests, unreadable, blank, histogram)


def list_splits(data_dir):
    """(layout in words, {split name: (class names, paths, labels)}) for any layout train accepts."""
    layout = splits.find_layout(data_dir)
    if layout.validation is not None:
        kind, roots = "train/ and validation/", {"train": layout.train, "validation": layout.validation}
    elif layout.train != Path(data_dir):
        kind, roots = "train/ only (train holds part of it out for validation)", {"train": layout.train}
    else:
        kind, roots = "class folders, no split (train holds part out for validation)", {"all": layout.train}
    return kind, {name: list_labelled(root) for name, root in roots.items()}


def inspect_listed(data_dir, kind, listed, progress=None):
    """Scan the listed splits: (report dict, [SplitScan])."""
    scans = [scan_split(name, listing, progress) for name, listing in listed.items()]
    report = {"data_dir": str(data_dir), "layout": kind, "splits": {s.name: split_report(s) for s in scans},
              "leakage": leakage(scans[0], scans[1]) if len(scans) == 2 else []}
    return report, scans


def flag_unknown(report, scans, weights):
    """With a model: per split, the usable images that look like none of its classes
    (`report["splits"][name]["unknown"]`, paths), and the threshold used."""
    from digitcli.errors import DigitcliError
    from digitcli.inference import open_classifier

    classifier = open_classifier(weights)
    threshold = classifier.meta.get("unknown_below")
    if threshold is None:
        raise DigitcliError(f"{weights} has no threshold for images of none of its classes; retrain it")
    report["unknown_below"], report["weights"] = threshold, str(weights)
    for scan in scans:
        usable = np.flatnonzero(scan.usable)
        probabilities = classifier.predict(scan.images[usable])
        flagged = usable[classifier.unknown(probabilities)]
        report["splits"][scan.name]["unknown"] = [scan.paths[i] for i in flagged]


def write_report(report, scans, report_dir):
    """inspect.json and the pictures under `report_dir`; the paths written."""
    from digitcli.artifacts import write_json
    from digitcli.inspect_plots import write_pictures

    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    pictures = write_pictures(report, scans, report_dir)
    write_json(report_dir / "inspect.json", report)
    return [report_dir / "inspect.json", *pictures]


def split_report(scan):
    """Counts, formats, problems (with paths) and imbalance of one split."""
    counts = np.bincount(scan.labels, minlength=len(scan.class_names))
    classes = {}
    for label, name in enumerate(scan.class_names):
        members = np.flatnonzero(scan.labels == label)
        classes[name] = {"images": int(counts[label]),
                         "blank": sum(int(i) in scan.blank for i in members),
                         "unreadable": sum(int(i) in scan.unreadable for i in members),
                         "formats": dict(Counter(scan.formats[i] for i in members if scan.formats[i]).most_common())}
    by_digest = defaultdict(list)
    for i, d in enumerate(scan.digests):
        if d:
            by_digest[d].append(scan.paths[i])
    groups = [group for group in by_digest.values() if len(group) > 1]
    usable = scan.usable
    coverage = (scan.images[usable] > 127).mean((1, 2))
    largest, smallest = int(counts.argmax()), int(counts.argmin())
    return {
        "images": len(scan.paths), "classes": classes,
        "formats": dict(Counter(f for f in scan.formats if f).most_common()),
        "imbalance": {"ratio": round(float(counts.max() / max(1, counts.min())), 2),
                      "largest": [scan.class_names[largest], int(counts[largest])],
                      "smallest": [scan.class_names[smallest], int(counts[smallest])]},
        "blank": [scan.paths[i] for i in sorted(scan.blank)],
        "unreadable": [{"path": scan.paths[i], "error": why} for i, why in sorted(scan.unreadable.items())],
        "duplicate_groups": groups, "duplicate_copies": sum(len(g) - 1 for g in groups),
        "ink_coverage_mean": round(float(coverage.mean()), 4) if len(coverage) else None,
        "pixel_histogram": scan.histogram.tolist(),
    }


def leakage(train, validation):
    """Images whose exact pixels are in both splits: [{"train": [paths], "validation": [paths]}]."""
    in_train = defaultdict(list)
    for i, d in enumerate(train.digests):
        if d:
            in_train[d].append(train.paths[i])
    found = defaultdict(list)
    for i, d in enumerate(validation.digests):
        if d in in_train:
            found[d].append(validation.paths[i])
    return [{"train": in_train[d], "validation": paths} for d, paths in found.items()]


def as_text(report):
    """What `digitcli inspect` prints: every figure inspect.json holds but the histogram."""
    parts = report["splits"]
    first = next(iter(parts.values()))
    names = list(first["classes"])
    w = max(5, *(len(n) for n in names))
    lines = [f"{report['data_dir']}: {report['layout']}", "",
             f"{'class':>{w}}" + "".join(f"  {split:>10}" for split in parts)]
    lines += [f"{name:>{w}}" + "".join(f"  {p['classes'].get(name, {}).get('images', 0):>10}" for p in parts.values())
              for name in names]
    lines.append(f"{'total':>{w}}" + "".join(f"  {p['images']:>10}" for p in parts.values()))
    for split, p in parts.items():
        imbalance = p["imbalance"]
        lines += ["", f"{split}:",
                  "  sizes and modes: " + ", ".join(f"{fmt} {n}" for fmt, n in list(p["formats"].items())[:4])
                  + (f", and {len(p['formats']) - 4} more" if len(p["formats"]) > 4 else ""),
                  f"  class imbalance: {imbalance['ratio']:.2f} (largest {imbalance['largest'][0]}: "
                  f"{imbalance['largest'][1]}, smallest {imbalance['smallest'][0]}: {imbalance['smallest'][1]})",
                  f"  exact duplicates: {p['duplicate_copies']} extra copies in {len(p['duplicate_groups'])} groups"]
        lines += shown([" = ".join(g) for g in p["duplicate_groups"]])
        lines.append(f"  blank images (no ink): {len(p['blank'])}")
        lines += shown(p["blank"])
        lines.append(f"  unreadable files: {len(p['unreadable'])}")
        lines += shown([f"{u['path']}: {u['error']}" for u in p["unreadable"]])
        if "unknown" in p:
            lines.append(f"  look like none of the classes ({report['weights']}, confidence below "
                         f"{100 * report['unknown_below']:.1f}%): {len(p['unknown'])}")
            lines += shown(p["unknown"])
    if len(parts) == 2:
        leaked = report["leakage"]
        lines += ["", f"Leakage: {sum(len(g['validation']) for g in leaked)} validation images are also in train "
                      "(same pixels)"]
        lines += shown([f"{' = '.join(g['validation'])} = {' = '.join(g['train'])}" for g in leaked])
    return "\n".join(lines)


def shown(items, indent="    "):
    """The first SHOWN items, one a line, and how many more there are."""
    lines = [indent + item for item in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"{indent}... and {len(items) - SHOWN} more (all listed in inspect.json)")
    return lines
