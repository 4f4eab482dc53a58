"""Write a Dataset as one lossless PNG per image: DIR/<split>/<class>/<index>.png.

Safe to interrupt: a class folder that does not exist yet is written into a hidden
staging folder and renamed into place when complete; into an existing class folder each
file is written under a temporary name and renamed. So a PNG at its final name is always
complete, and a rerun finishes the job. Paths the tool does not write are never touched.
"""

import errno
import json
import multiprocessing
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from digitcli.errors import DigitcliError

MARKER = ".digitcli-export.json"
STAGING_SUFFIX = ".digitcli-partial"
TMP_SUFFIX = ".digitcli-tmp"
# Level 0 stores pixels uncompressed: still lossless, twice as fast to encode, and a
# 28x28 file fills one 4 KiB disk block at any level.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 0]
CHUNK = 1000

_IMAGES = {}  # split name -> images, inherited by forked workers


@dataclass
class ExportSummary:
    """What an export did: per split and class, how many files are in place."""

    data_dir: Path
    counts: dict = field(default_factory=dict)  # split -> {class: n}
    written: int = 0
    already_complete: bool = False


def export_dataset(dataset, data_dir, force=False, workers=None, progress=None):
    """Write `dataset` under `data_dir`; `progress(n)` is called as files are done."""
    data_dir = Path(data_dir)
    progress = progress or (lambda n: None)
    plan = plan_files(dataset)
    summary = ExportSummary(data_dir, {s: dict(Counter(c for c, _ in files)) for s, files in plan.items()})
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        marker = read_marker(data_dir)
        if marker and marker.get("dataset") != dataset.name and not force:
            raise DigitcliError(
                f"{data_dir} already holds a {marker.get('dataset')} export; "
                "choose another --data-dir or pass --force"
            )
        if not force and marker == marker_for(dataset) and all_present(data_dir, dataset, plan):
            summary.already_complete = True
            return summary
        jobs, staged = make_jobs(dataset, data_dir, plan, force)
        summary.written, conflicts = run_jobs(dataset, jobs, staged, workers, progress)
        if conflicts:
            raise DigitcliError(
                f"{len(conflicts)} file(s) already in {data_dir} differ from the source and were left "
                f"alone (first: {conflicts[0]}); pass --force to rewrite them"
            )
        write_json_atomic(data_dir / MARKER, marker_for(dataset))
    except OSError as exc:
        raise DigitcliError(describe_os_error(exc, data_dir)) from exc
    return summary


def plan_files(dataset):
    """split -> list of (class name, index) for every image."""
    names = dataset.class_names
    return {split: [(names[label], i) for i, label in enumerate(y.tolist())] for split, _, y in dataset.splits()}


def marker_for(dataset):
    return {"dataset": dataset.name, "splits": {s: len(y) for s, _, y in dataset.splits()}}


def read_marker(data_dir):
    try:
        return json.loads((data_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None


def all_present(data_dir, dataset, plan):
    """True when every file the export writes is in place (names only: cheap)."""
    for split, files in plan.items():
        for name in dataset.class_names:
            folder = data_dir / split / name
            present = set(os.listdir(folder)) if folder.is_dir() else set()
            if any(f"{i}.png" not in present for c, i in files if c == name):
                return False
    return True


def make_jobs(dataset, data_dir, plan, force):
    """Chunks of work per (split, class); new class folders are staged whole."""
    jobs, staged = [], {}
    for split, files in plan.items():
        for name in dataset.class_names:
            indices = [i for c, i in files if c == name]
            final = data_dir / split / name
            if final.is_dir():
                clean_temporaries(final)
                folder, mode = final, "force" if force else "fill"
            else:
                folder, mode = final.with_name(f".{name}{STAGING_SUFFIX}"), "fresh"
                if folder.exists():
                    shutil.rmtree(folder)  # our own staging folder from an interrupted run
                folder.mkdir(parents=True)
                staged[folder] = (final, len(indices))
            jobs += [(split, str(folder), mode, indices[k:k + CHUNK]) for k in range(0, len(indices), CHUNK)]
    return jobs, staged


def clean_temporaries(folder):
    for entry in os.scandir(folder):
        if entry.name.endswith(TMP_SUFFIX):
            os.unlink(entry.path)


def run_jobs(dataset, jobs, staged, workers, progress):
    """Run the chunks (in parallel where it pays); rename staged folders as they fill."""
    _IMAGES.update({split: x for split, x, _ in dataset.splits()})
    workers = workers or min(os.cpu_count() or 1, 4)
    remaining = {folder: n for folder, (_, n) in staged.items()}
    written, conflicts = 0, []
    if workers > 1 and len(jobs) > 1:
        pool = multiprocessing.get_context("fork").Pool(workers)
        results = pool.imap_unordered(write_chunk, jobs)
    else:
        pool, results = None, map(write_chunk, jobs)
    try:
        for folder, n_done, n_written, chunk_conflicts in results:
            written += n_written
            conflicts += chunk_conflicts
            progress(n_done)
            folder = Path(folder)
            if folder in remaining:
                remaining[folder] -= n_done
                if remaining[folder] == 0:
                    os.rename(folder, staged[folder][0])
    finally:
        if pool:
            pool.terminate()
        _IMAGES.clear()
    return written, conflicts


def write_chunk(job):
    """Write one chunk; returns (folder, files done, files written, conflicting paths)."""
    split, folder, mode, indices = job
    images = _IMAGES[split]
    written, conflicts = 0, []
    for i in indices:
        path = os.path.join(folder, f"{i}.png")
        if mode == "fill" and os.path.exists(path):
            if not same_pixels(path, images[i]):
                conflicts.append(path)
            continue
        ok, png = cv2.imencode(".png", images[i], PNG_PARAMS)
        if mode == "fresh":
            write_bytes(path, png)
        else:
            tmp = os.path.join(folder, f".{i}.png{TMP_SUFFIX}")
            write_bytes(tmp, png)
            os.replace(tmp, path)
        written += 1
    return folder, len(indices), written, conflicts


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def same_pixels(path, expected):
    """True when the PNG at `path` decodes to exactly `expected`."""
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return image is not None and image.dtype == expected.dtype and np.array_equal(image, expected)


def write_json_atomic(path, obj):
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def describe_os_error(exc, data_dir):
    """One line for the user from an OSError raised while writing `data_dir`."""
    if exc.errno == errno.ENOSPC:
        return f"disk full while writing {data_dir}; free some space and run again to finish"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {data_dir}: {exc.strerror}"
    return f"while writing {data_dir}: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
