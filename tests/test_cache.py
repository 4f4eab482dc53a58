"""Generated images kept between runs (`digitcli.cache`): the same arrays, made once."""

import numpy as np

from digitcli import cache
from digitcli.outliers import make_outliers, printed_digits


def test_kept_results_are_the_same_arrays_made_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITCLI_CACHE", str(tmp_path))
    calls = []

    def counted(count, seed):
        calls.append(count)
        return printed_digits(count, seed)

    counted.__module__, counted.__qualname__ = "tests", "counted"
    first = cache.kept(counted, 20, 3)
    again = cache.kept(counted, 20, 3)
    assert calls == [20]  # the second came from the file
    assert all(np.array_equal(a, b) for a, b in zip(first, again)) and isinstance(again, tuple)
    assert cache.kept(counted, 21, 3)[0].shape == (21, 28, 28) and calls == [20, 21]  # other arguments: made
    outliers = cache.kept(make_outliers, 30, list("0123456789"), 0)
    assert np.array_equal(outliers, make_outliers(30, list("0123456789"), 0))


def test_a_broken_or_unwritable_cache_only_costs_the_time(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITCLI_CACHE", str(tmp_path / "c"))
    want = cache.kept(make_outliers, 10, ["a", "b"], 1)
    (stored,) = (tmp_path / "c").iterdir()
    stored.write_bytes(b"not an npz")
    assert np.array_equal(cache.kept(make_outliers, 10, ["a", "b"], 1), want)  # made again
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("DIGITCLI_CACHE", str(tmp_path / "file" / "below"))  # cannot be a folder
    assert np.array_equal(cache.kept(make_outliers, 10, ["a", "b"], 1), want)


def test_a_folder_is_read_again_only_where_a_file_changed(tmp_path, monkeypatch, mnist):
    import cv2

    from digitcli.folders import load_images

    monkeypatch.setenv("DIGITCLI_CACHE", str(tmp_path / "c"))
    paths = []
    for i, digit in enumerate(mnist["x_test"][:40]):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], 255 - digit)  # dark on light: to_mnist has work to do
    (tmp_path / "bad.png").write_bytes(b"not a png")
    paths.append(str(tmp_path / "bad.png"))
    reads = []

    def read(listed, progress=None):
        reads.append(len(listed))
        return load_images(listed, progress)

    first = cache.kept_reads(read, paths)
    shown = []
    again = cache.kept_reads(read, paths, shown.append)
    assert reads == [41] and shown == [41]  # from the cache, and the progress bar told
    assert np.array_equal(first[0], again[0]) and again[1] == first[1] and list(first[1]) == [40]
    cv2.imwrite(paths[0], 255 - mnist["x_test"][99])  # another digit in the same file
    changed = cache.kept_reads(read, paths)
    assert reads == [41, 41] and np.array_equal(changed[0], load_images(paths)[0])
    assert not np.array_equal(changed[0][0], first[0][0])


def test_the_cache_folder_keeps_the_recently_used_under_its_limit(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("DIGITCLI_CACHE", str(tmp_path))
    for seed in range(3):
        cache.kept(make_outliers, 50, ["a", "b"], seed)
    sizes = {f: f.stat().st_size for f in tmp_path.iterdir()}
    oldest = min(sizes, key=lambda f: f.stat().st_mtime)
    os.utime(oldest, (1, 1))
    monkeypatch.setattr(cache, "LIMIT_BYTES", sum(sizes.values()))
    cache.kept(make_outliers, 50, ["a", "b"], 3)  # a fourth: the least recently used goes
    assert oldest not in set(tmp_path.iterdir()) and len(list(tmp_path.iterdir())) == 3
