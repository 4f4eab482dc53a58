"""The worker that feeds training: what each epoch holds, that it repeats, and that nothing stays behind."""

import os

import numpy as np

from digitcli.feeder import Feeder
from digitcli.folders import list_labelled
from digitcli.outliers import DIGIT_CLASSES, REPEATS, outlier_count, printed_count


def epochs_of(tree, seed, count=2):
    """The first `count` epochs a Feeder makes from tree/train, and its scratch folder."""
    names, paths, labels = list_labelled(tree / "train")
    with Feeder(augment=True, seed=seed, outlier_share=0.1) as feeder:
        feeder.load(names, paths, labels, tree / "train", training=True).result()
        feeder.generate(len(paths), names)
        epochs = [feeder.get(epoch, prefetch_next=epoch + 1 < count) for epoch in range(count)]
        assert not os.listdir(feeder.folder)  # each epoch's file is gone once read
    return epochs, feeder.folder, len(paths)


def test_each_epoch_holds_the_images_the_printed_digits_and_the_outliers_twice(digits_tree):
    (first, second), folder, listed = epochs_of(digits_tree, seed=5)
    assert not os.path.exists(folder)  # the scratch folder goes with the feeder
    printed, outliers = printed_count(listed, DIGIT_CLASSES, 0.1), outlier_count(listed, 0.1)
    for images, labels in (first, second):
        assert images.dtype == np.uint8 and images.shape == (listed + printed + REPEATS * outliers, 28, 28)
        assert (labels == -1).sum() == REPEATS * outliers
        assert np.bincount(labels[labels >= 0], minlength=10).min() > 0.08 * listed
    assert not np.array_equal(first[0], second[0])  # shuffled and augmented anew each epoch
    assert np.array_equal(np.sort(first[1]), np.sort(second[1]))


def test_the_same_seed_makes_the_same_epochs(digits_tree):
    runs = [epochs_of(digits_tree, seed)[0] for seed in (5, 5, 6)]
    for (x, y), (x2, y2) in zip(runs[0], runs[1]):
        assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(runs[0][0][0], runs[2][0][0])
