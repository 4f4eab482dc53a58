"""On-the-fly augmentation for handwriting and the batches `fit` consumes.

Small random affine warps (rotation, scale, shear, shift), never flips: a mirrored 2 is
not a 2. OpenCV warps each 28x28 image in microseconds and releases the GIL, so the next
epoch's images are made in a worker thread while the model trains on this epoch's.
"""

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from digitcli.preprocess import to_model_input

ROTATION_DEG = 8.0
SCALE = 0.08  # zoom in or out by up to 8%
SHEAR = 0.10  # horizontal shear factor
SHIFT_PX = 2.0


def random_affine(images, rng):
    """Warp each (28, 28) image in `images` by its own random affine transform."""
    n, h, w = images.shape
    angle = np.deg2rad(rng.uniform(-ROTATION_DEG, ROTATION_DEG, n))
    scale = rng.uniform(1 - SCALE, 1 + SCALE, n)
    shear = rng.uniform(-SHEAR, SHEAR, n)
    shift = rng.uniform(-SHIFT_PX, SHIFT_PX, (n, 2))
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.stack([np.stack([cos, -sin + shear * cos], -1), np.stack([sin, cos + shear * sin], -1)], 1)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    offset = centre - linear @ centre + shift
    matrices = np.concatenate([linear, offset[:, :, None]], 2).astype(np.float32)
    out = np.empty_like(images)
    for i in range(n):
        out[i] = cv2.warpAffine(images[i], matrices[i], (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


class AugmentedEpochs:
    """Shuffled, augmented copies of the training set, one per epoch, each made in a
    worker thread while the previous epoch trains; repeatable for a given seed."""

    def __init__(self, x, y, augment=True, seed=0):
        self.x, self.y, self.augment, self.seed = x, y, augment, seed
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending = {}

    def make(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.x))
        images = self.x[order]
        if self.augment:
            images = random_affine(images, rng)
        return to_model_input(images), self.y[order]

    def get(self, epoch, prefetch_next=True):
        """Arrays (x, y) for `epoch`; starts on the next epoch's in the background."""
        future = self.pending.pop(epoch, None) or self.pool.submit(self.make, epoch)
        if prefetch_next:
            self.pending[epoch + 1] = self.pool.submit(self.make, epoch + 1)
        return future.result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(cancel_futures=True)
