"""The worker that feeds training: it loads the images and generates outliers, then makes
each epoch's shuffled, augmented copy of the training set while the previous epoch trains.

Reading PNGs and OpenCV's per-image warps are Python loops that hold the GIL, so a thread
cannot run them beside TensorFlow's import or its training steps; a forked process can.
It is forked before TensorFlow (or JAX, or PyTorch) is loaded, whose threads would not
survive a fork; when one already is (a second training in one Python session), the worker
is a thread, and the import it would have overlapped costs nothing.
"""

import dataclasses
import multiprocessing
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from digitcli.augment import epoch_copy
from digitcli.cache import kept
from digitcli.folders import load_listed
from digitcli.outliers import REPEATS, make_outliers, outlier_count, printed_count, printed_digits

FRAMEWORKS = ("tensorflow", "jax", "torch")  # not fork-safe once loaded

_training_set = None  # in the worker: the training images and labels the epochs are made from
_outliers = None  # in the worker: the generated outliers mixed into every epoch


def _load(names, paths, labels, origin, training):
    global _training_set, _outliers
    images = load_listed(names, paths, labels, origin=origin)
    if training:
        _training_set = images.x, images.y
        _outliers = np.zeros((0, 28, 28), np.uint8)
        # the images stay here for the epochs: sending them back cost the worker 0.8 s for MNIST
        images = dataclasses.replace(images, x=images.x[:0])
    return images


def _add_printed(x, y):
    """Add printed digits `x` labelled `y` to the training images."""
    global _training_set
    _training_set = np.concatenate([_training_set[0], x]), np.concatenate([_training_set[1], y])


def _add_outliers(made):
    """Mix `made` outliers into every epoch."""
    global _outliers
    _outliers = np.concatenate([_outliers, made])


def _make_outliers(count, class_names, seed):
    _add_outliers(kept(make_outliers, count, class_names, seed))


def _epoch(augment, seed, epoch, folder):
    """Epoch `epoch`'s images and labels, the images as a file in `folder` where it can be
    written: through the result pipe MNIST's 67 MB cost the worker 0.3-0.8 s, and the main
    process its GIL while it unpickled them."""
    images, labels = epoch_copy(*_training_set, augment, seed, epoch, np.tile(_outliers, (REPEATS, 1, 1)))
    path = os.path.join(folder, f"epoch-{epoch}.npy")
    try:
        np.save(path, images)
    except OSError:  # a full disk: the pipe still works
        return images, labels
    return path, labels


def worker():
    """A one-worker executor: a forked process where that is safe, else a thread."""
    if "fork" in multiprocessing.get_all_start_methods() and not any(m in sys.modules for m in FRAMEWORKS):
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(max_workers=1)


class Feeder:
    """Loads labelled images and makes training epochs in a worker process, one task after
    another in the order asked; repeatable for a given seed."""

    def __init__(self, augment, seed, outlier_share=0.0):
        """`outlier_share`: how many outliers (`digitcli.outliers`) to generate, as a share of
        the training images; each epoch mixes them in REPEATS times."""
        self.augment, self.seed, self.outlier_share, self.pending = augment, seed, outlier_share, {}
        self.folder = tempfile.mkdtemp(prefix="digitcli-epochs-")  # each epoch's images, on their way
        self.pool = worker()

    def load(self, names, paths, labels, origin, training=False):
        """A future of the LabelledImages; the `training` set's images stay in the worker for the
        epochs (its `x` comes back empty)."""
        return self.pool.submit(_load, names, paths, labels, str(origin), training)

    def generate(self, training_images, class_names):
        """Generate what the epochs mix in beside the training images, as many as
        `training_images` calls for: outliers, in two halves with seeds of their own, the first
        in the worker after the images, the second in this process, now, before it imports
        TensorFlow; and for the ten digits printed ones, here too (4 s of work for 60,000 MNIST
        images in a first run, shared so that both processes are ready about together; read
        from the cache after)."""
        total = outlier_count(training_images, self.outlier_share)
        first, second = total // 2, total - total // 2
        if first:
            self.pool.submit(_make_outliers, first, class_names, self.seed)
        printed = printed_count(training_images, class_names, self.outlier_share)
        if printed:
            self.pool.submit(_add_printed, *kept(printed_digits, printed, self.seed))
        if second:
            self.pool.submit(_add_outliers, kept(make_outliers, second, class_names, self.seed + 500_009))

    def outliers_apart(self, count, class_names, seed):
        """A future of `count` outliers no epoch holds, made in the worker after what was asked
        before (asked after the first epoch's copy: while that epoch trains)."""
        return self.run(kept, make_outliers, count, class_names, seed)

    def run(self, function, *args):
        """A future of `function(*args)` in the worker, after what was asked before (picklable)."""
        return self.pool.submit(function, *args)

    def prepare(self, epoch):
        """Start making `epoch`'s copy (after the loads asked for so far)."""
        if epoch not in self.pending:
            self.pending[epoch] = self.pool.submit(_epoch, self.augment, self.seed, epoch, self.folder)

    def get(self, epoch, prefetch_next=True):
        """`epoch`'s images (uint8) and labels; starts on the next epoch's."""
        self.prepare(epoch)
        if prefetch_next:
            self.prepare(epoch + 1)
        images, labels = self.pending.pop(epoch).result()
        if isinstance(images, str):
            path, images = images, np.load(images)
            os.unlink(path)
        return images, labels

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)
