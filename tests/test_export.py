"""`digitcli export`: lossless, repeatable, interruptible, polite to other files."""

import errno
import gzip
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from data_tools import export as export_module
from data_tools.export import MARKER, export_dataset
from data_tools.sources import load_dataset
from digitcli.cli import cli
from digitcli.errors import DigitcliError

from conftest import run_cli


def read_tree(root, dataset):
    """Every exported image read back, checked against the source arrays."""
    for split, x, y in dataset.splits():
        for i, label in enumerate(y):
            path = root / split / dataset.class_names[label] / f"{i}.png"
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert image is not None and image.dtype == np.uint8 and image.ndim == 2, path
            assert np.array_equal(image, x[i]), path


def leftovers(root):
    return [p for p in root.rglob("*") if ".digitcli-" in p.name and p.name != MARKER]


def write_idx(folder, arrays, gz):
    folder.mkdir()
    for key, stem in (("x_train", "train-images-idx3-ubyte"), ("y_train", "train-labels-idx1-ubyte"),
                      ("x_test", "t10k-images-idx3-ubyte"), ("y_test", "t10k-labels-idx1-ubyte")):
        a = arrays[key]
        raw = bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.astype(np.uint8).tobytes()
        (folder / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)


def test_export_is_lossless_with_class_folders(small_npz, tmp_path):
    dataset = load_dataset("mnist", small_npz)
    summary = export_dataset(dataset, tmp_path / "data", workers=2)
    assert summary.written == 800
    assert sorted(os.listdir(tmp_path / "data" / "train")) == [str(d) for d in range(10)]
    assert sum(summary.counts["train"].values()) == 600 and sum(summary.counts["validation"].values()) == 200
    read_tree(tmp_path / "data", dataset)
    assert not leftovers(tmp_path / "data")


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_gives_the_same_arrays_as_npz(small_npz, tmp_path, gz):
    with np.load(small_npz) as data:
        write_idx(tmp_path / "idx", {k: data[k] for k in data.files}, gz)
    a, b = load_dataset("mnist", small_npz), load_dataset("mnist", tmp_path / "idx")
    for (_, xa, ya), (_, xb, yb) in zip(a.splits(), b.splits()):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


def test_fashion_mnist_gets_readable_class_folders(small_npz, tmp_path):
    with np.load(small_npz) as data:
        write_idx(tmp_path / "idx", {k: data[k] for k in data.files}, True)
    result = run_cli("export", "--dataset", "fashion-mnist", "--source", tmp_path / "idx", "--data-dir", tmp_path / "f")
    assert result.returncode == 0, result.stderr
    assert "ankle-boot" in os.listdir(tmp_path / "f" / "train") and "trouser" in result.stdout


def test_second_run_does_no_work_and_says_so(small_npz, tmp_path):
    runner = CliRunner()
    args = ["export", "--source", str(small_npz), "--data-dir", str(tmp_path / "d")]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0 and "Wrote 800 files" in first.output
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "d").rglob("*.png")}
    second = runner.invoke(cli, args)
    assert second.exit_code == 0 and "nothing to do" in second.output
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "d").rglob("*.png")}


def test_other_files_are_never_touched_and_force_rewrites_own(small_npz, tmp_path):
    dataset = load_dataset("mnist", small_npz)
    root = tmp_path / "d"
    export_dataset(dataset, root, workers=1)
    mine = root / "train" / "3" / "my_own_digit.png"
    mine.write_bytes(b"user data")
    (root / "notes.txt").write_text("keep me")
    victim = root / "train" / str(dataset.y_train[0]) / "0.png"
    cv2.imwrite(str(victim), np.full((28, 28), 7, np.uint8))
    (root / MARKER).unlink()  # as if the export had never finished
    with pytest.raises(DigitcliError, match="differ from the source"):
        export_dataset(dataset, root, workers=1)
    assert cv2.imread(str(victim), cv2.IMREAD_UNCHANGED).max() == 7  # left alone
    summary = export_dataset(dataset, root, force=True, workers=1)
    assert summary.written == 800
    read_tree(root, dataset)
    assert mine.read_bytes() == b"user data" and (root / "notes.txt").read_text() == "keep me"


def test_kill_9_then_rerun_ends_complete_and_correct(mnist_npz, tmp_path):
    npz, root = mnist_npz, tmp_path / "d"
    proc = subprocess.Popen([sys.executable, "-m", "digitcli", "export", "--source", str(npz), "--data-dir", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and sum(1 for _ in root.glob("*/.*partial*/*.png")) < 500:
        time.sleep(0.02)  # until the export is under way, with 500 files written of 70,000
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (root / MARKER).exists(), "the export finished before it could be killed"
    rerun = run_cli("export", "--source", npz, "--data-dir", root)
    assert rerun.returncode == 0, rerun.stderr
    read_tree(root, load_dataset("mnist", npz))
    assert not leftovers(root)
    assert sum(1 for _ in root.rglob("*.png")) == 70000


@pytest.mark.parametrize("content, message", [
    (None, "source not found"),
    (b"this is not a zip file", "cannot read as .npz"),
    ("wrong-shape", "expected (N, 28, 28)"),
    ("missing-key", "missing y_test"),
])
def test_bad_sources_give_one_line_and_exit_1(tmp_path, content, message):
    source = tmp_path / "src.npz"
    if isinstance(content, bytes):
        source.write_bytes(content)
    elif content == "wrong-shape":
        np.savez(source, x_train=np.zeros((5, 32, 32), np.uint8), y_train=np.zeros(5, np.uint8),
                 x_test=np.zeros((2, 32, 32), np.uint8), y_test=np.zeros(2, np.uint8))
    elif content == "missing-key":
        np.savez(source, x_train=np.zeros((5, 28, 28), np.uint8), y_train=np.zeros(5, np.uint8),
                 x_test=np.zeros((2, 28, 28), np.uint8))
    result = run_cli("export", "--source", source, "--data-dir", tmp_path / "d")
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_idx_is_reported(small_npz, tmp_path):
    with np.load(small_npz) as data:
        write_idx(tmp_path / "idx", {k: data[k] for k in data.files}, False)
    path = tmp_path / "idx" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    result = run_cli("export", "--source", tmp_path / "idx", "--data-dir", tmp_path / "d")
    assert result.returncode == 1 and "truncated or corrupt" in result.stderr and "Traceback" not in result.stderr


def test_unwritable_data_dir(small_npz, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run_cli("export", "--source", small_npz, "--data-dir", blocker / "data")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot write" in result.stderr or "while writing" in result.stderr


def test_full_disk_is_one_clear_line(small_npz, tmp_path, monkeypatch):
    def no_space(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(export_module, "write_bytes", no_space)
    result = CliRunner().invoke(cli, ["export", "--source", str(small_npz), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1 and "disk full" in result.output
    assert not isinstance(result.exception, OSError)


def test_help_and_version_do_not_import_tensorflow():
    code = ("import sys; from click.testing import CliRunner; from digitcli.cli import cli; "
            "r = CliRunner(); assert r.invoke(cli, ['--help']).exit_code == 0; "
            "assert r.invoke(cli, ['export', '--help']).exit_code == 0; "
            "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'torch', 'matplotlib') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    result = run_cli("--version")
    assert result.returncode == 0 and "digitcli, version" in result.stdout
