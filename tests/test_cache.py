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
