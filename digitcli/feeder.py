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
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from digitcli.augment import epoch_copy
from digitcli.cache import kept
from digitcli.folders import load_listed
from digitcli.outliers import REPEATS, make_outliers, outlier_count, printed_count, printed_digits

FRAMEWORKS = ("tensorflow", "jax", "torch")  # not fork-safe once loaded

_training_set = None  # in the worker: the training images and labels the epochs are made from
_outliers = None  # in the worker: the generated outliers mixed into every epoch


def _load(names, paths, labels, origin, training, outlier_share, seed):
    global _training_set, _outliers
    images = load_listed(names, paths, labels, origin=origin)
    if training:
        printed_x, printed_y = kept(printed_digits, printed_count(len(images.y), names, outlier_share), seed)
        _training_set = np.concatenate([images.x, printed_x]), np.concatenate([images.y, printed_y])
        _outliers = np.zeros((0, 28, 28), np.uint8)
        # the images stay here for the epochs: sending them back cost the worker 0.8 s for MNIST
        images = dataclasses.replace(images, x=images.x[:0])
    return images


def _add_outliers(made):
    """Mix `made` outliers into every epoch."""
    global _outliers
    _outliers = np.concatenate([_outliers, made])


def _epoch(augment, seed, epoch):
    return epoch_copy(*_training_set, augment, seed, epoch, np.tile(_outliers, (REPEATS, 1, 1)))


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
        self.pool = worker()

    def load(self, names, paths, labels, origin, training=False):
        """A future of the LabelledImages; the `training` set's images stay in the worker for the
        epochs (its `x` comes back empty)."""
        return self.pool.submit(_load, names, paths, labels, str(origin), training, self.outlier_share, self.seed)

    def make_outliers(self, training_images, class_names):
        """Generate the outliers the epochs mix in (as many as `training_images` calls for) in
        this process, now, before it imports TensorFlow, while the worker reads the images
        (3.0 s of work for 60,000 MNIST images in a first run; read from the cache after). Two
        halves with seeds of their own: the outliers earlier versions made, one half of them in
        the worker."""
        total = outlier_count(training_images, self.outlier_share)
        for count, seed in ((total // 2, self.seed), (total - total // 2, self.seed + 500_009)):
            if count:
                self.pool.submit(_add_outliers, kept(make_outliers, count, class_names, seed))

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
            self.pending[epoch] = self.pool.submit(_epoch, self.augment, self.seed, epoch)

    def get(self, epoch, prefetch_next=True):
        """`epoch`'s images (uint8) and labels; starts on the next epoch's."""
        self.prepare(epoch)
        if prefetch_next:
            self.prepare(epoch + 1)
        return self.pending.pop(epoch).result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(cancel_futures=True)
