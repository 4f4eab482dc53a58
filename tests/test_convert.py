"""`digitcli convert`: every format through its own runtime, refusal of a broken copy,
one-line errors, and converted files used by predict and evaluate."""

import json

import numpy as np
import onnx
import onnxruntime
import pytest

from digitcli.convert import run as convert_run
from digitcli.convert import writers
from digitcli.convert.run import convert
from digitcli.errors import DigitcliError
from digitcli.evaluate import evaluate_folder
from digitcli.inference import Classifier, ConvertedClassifier
from digitcli.preprocess import to_model_input

from conftest import run_cli

QUIET = dict(say=lambda line: None)
EVERY = ["onnx", "litert", "saved-model"]


@pytest.fixture(scope="module")
def converted(trained, digits_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted") / "out"
    results = convert(trained[1], EVERY, ["fp32", "fp16", "int8"], str(digits_tree), out, **QUIET)
    return out, results


def test_every_format_and_quantization_passes_its_check_and_stands_alone(converted, trained):
    out, results = converted
    stem = trained[1].stem
    names = {f"{stem}.onnx", f"{stem}.fp16.onnx", f"{stem}.int8.onnx", f"{stem}.tflite", f"{stem}.fp16.tflite",
             f"{stem}.int8.tflite", f"{stem}.savedmodel"}
    assert {r.file for r in results} == names
    for r in results:
        assert r.failure is None, (r.file, r.failure)
        assert (out / r.file).exists() and (out / (r.file + ".json")).is_file()
        if r.quantize == "fp32":
            assert r.agreement == 1.0 and r.max_difference <= 1e-4
    sizes = {r.file: r.size_bytes for r in results}
    assert sizes[f"{stem}.int8.onnx"] <= 0.6e6 < sizes[f"{stem}.onnx"]
    assert json.loads((out / "checks.json").read_text())[0]["file"] == results[0].file
    assert not list(out.glob(".*partial*"))  # nothing half-written left
    model = onnx.load(str(out / f"{stem}.int8.onnx"))  # the ONNX file carries its own contract
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == [str(d) for d in range(10)] and float(props["temperature"]) > 0
    from digitcli.convert.runtimes import litert_metadata, onnx_metadata

    for name, read in ((f"{stem}.int8.tflite", litert_metadata), (f"{stem}.fp16.onnx", onnx_metadata)):
        embedded = json.loads(read(out / name))  # in the file itself, the same as its sidecar
        assert embedded == json.loads((out / (name + ".json")).read_text()) and embedded["class_names"][3] == "3"
    session = onnxruntime.InferenceSession(str(out / f"{stem}.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]


@pytest.mark.parametrize("suffix", [".onnx", ".int8.onnx", ".tflite", ".int8.tflite"])
def test_predict_and_evaluate_take_converted_files(converted, trained, digits_tree, mnist, suffix):
    out, _ = converted
    path = out / (trained[1].stem + suffix)
    copy, original = ConvertedClassifier(path), Classifier(trained[1])
    images = mnist["x_test"][:200]
    assert copy.class_names == original.class_names and copy.temperature == original.temperature
    agree = (copy.predict(images).argmax(1) == original.predict(images).argmax(1)).mean()
    assert agree >= 0.99
    if suffix == ".onnx":
        np.testing.assert_allclose(copy.predict_tensor(to_model_input(images)), original.predict(images), atol=1e-4)
    ev = evaluate_folder(digits_tree, path)
    assert abs(ev.accuracy - evaluate_folder(digits_tree, trained[1]).accuracy) <= 0.01


def test_a_broken_copy_is_refused_and_not_left_under_its_name(trained, digits_tree, tmp_path, monkeypatch):
    original_writer = writers.write_onnx

    def broken(model, path, meta, quantize, calibration):
        original_writer(model, path, meta, quantize, calibration)
        graph = onnx.load(str(path))
        weights = max(graph.graph.initializer, key=lambda t: len(t.raw_data))  # the dense layer's
        values = onnx.numpy_helper.to_array(weights).copy()
        values *= np.random.default_rng(0).normal(1, 0.8, values.shape).astype(values.dtype)
        weights.CopyFrom(onnx.numpy_helper.from_array(values, weights.name))
        onnx.save(graph, str(path))

    monkeypatch.setitem(convert_run.FORMATS, "onnx", (".onnx", broken, ("fp32", "fp16", "int8")))
    out = tmp_path / "out"
    [result] = convert(trained[1], ["onnx"], ["int8"], str(digits_tree), out, **QUIET)
    assert result.failure and "agrees with the original on" in result.failure
    assert not (out / result.file).exists() and not list(out.glob(".*partial*"))


@pytest.mark.parametrize("args, message", [
    (["--to", "coreml"], "unknown format 'coreml'"),
    (["--to", "saved-model", "--quantize", "int8"], "fp32 only"),
    (["--quantize", "int4"], "unknown quantization 'int4'"),
    (["--weights", "missing.h5"], "weights file not found"),
])
def test_bad_requests_are_one_line(trained, digits_tree, tmp_path, args, message):
    base = ["convert", "--weights", trained[1], "--data-dir", digits_tree, "--out", tmp_path / "o"]
    result = run_cli(*base, *args, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_an_existing_output_folder_needs_force(trained, digits_tree, tmp_path):
    (tmp_path / "o").mkdir()
    with pytest.raises(DigitcliError, match="--force"):
        convert(trained[1], ["onnx"], ["fp32"], str(digits_tree), tmp_path / "o", **QUIET)


def test_the_python_example_needs_only_onnxruntime_and_answers_like_predict(converted, trained, digits_tree):
    import subprocess
    import sys

    from conftest import REPO
    from digitcli.predict import predict_paths

    out, _ = converted
    pngs = sorted(str(p) for p in (digits_tree / "validation").glob("*/*.png"))[::25][:20]
    example = subprocess.run([sys.executable, str(REPO / "examples/python/predict_onnx.py"),
                              str(out / f"{trained[1].stem}.onnx"), *pngs], capture_output=True, text=True, check=True)
    rows = [line.split() for line in example.stdout.splitlines()]
    expected = predict_paths(pngs, trained[1])
    assert [r[1] for r in rows] == [p.class_name for p in expected]
    assert all(abs(float(r[2].rstrip("%")) - 100 * p.confidence) <= 0.1 for r, p in zip(rows, expected))


@pytest.mark.parametrize("suffix", [".int8.onnx", ".int8.tflite"])
def test_serve_serves_a_converted_file(converted, trained, mnist, suffix):
    import cv2
    from starlette.testclient import TestClient

    from digitcli.serve.app import create_app

    out, _ = converted
    path = out / (trained[1].stem + suffix)
    copy = ConvertedClassifier(path)
    with TestClient(create_app(path, watch=False)) as client:
        for i in range(5):
            body = cv2.imencode(".png", mnist["x_test"][i])[1].tobytes()
            got = client.post("/predict", content=body, headers={"Content-Type": "image/png"}).json()["predictions"][0]
            want = copy.predict(mnist["x_test"][i:i + 1])[0]
            assert got["class"] == copy.class_names[int(want.argmax())]
            assert got["confidence"] == pytest.approx(float(want.max()), abs=1e-5)
        name = path.stem
        meta = client.get(f"/v2/models/{name}").json()
        assert meta["versions"] == [copy.version] and meta["parameters"]["quantize"] == "int8"
        x = to_model_input(mnist["x_test"][:3])
        request = {"inputs": [{"name": "images", "shape": [3, 28, 28, 1], "datatype": "FP32", "data": x.ravel().tolist()}]}
        answer = client.post(f"/v2/models/{name}/versions/{copy.version}/infer", json=request).json()
        np.testing.assert_allclose(np.reshape(answer["outputs"][0]["data"], (3, 10)), copy.predict_tensor(x), atol=1e-6)


def test_a_backend_that_cannot_write_a_format_is_one_line(trained, digits_tree, tmp_path):
    result = run_cli("convert", "--weights", trained[1], "--data-dir", digits_tree, "--to", "litert",
                     "--out", tmp_path / "o", env={"KERAS_BACKEND": "jax"})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "cannot write" in result.stderr and "LiteRT" in result.stderr
    assert not (tmp_path / "o").exists()  # nothing left behind, so the next try needs no --force
