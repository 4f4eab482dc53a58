"""Each converted file run by its own runtime: (N, 28, 28, 1) float32 -> (N, classes) probabilities."""

import json
from pathlib import Path

import numpy as np

from digitcli.convert import INPUT
from digitcli.errors import DigitcliError


def kind_of(path):
    """'onnx', 'litert', 'saved-model' or 'web' for a converted file or folder."""
    path = Path(path)
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix == ".tflite":
        return "litert"
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "saved-model"
    if path.is_dir() and (path / "index.html").is_file():
        return "web"
    raise DigitcliError(f"{path}: not a converted model (.onnx, .tflite, a SavedModel or a web folder)")


def open_runner(path, threads=0):
    """A function running `path` on a float32 batch in its own runtime."""
    runners = {"onnx": onnx_runner, "litert": litert_runner, "saved-model": saved_model_runner, "web": web_runner}
    return runners[kind_of(path)](Path(path), threads)


def onnx_runner(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {INPUT: x})[0]


def litert_runner(path, threads):
    from ai_edge_litert.interpreter import Interpreter

    from digitcli.backend import quiet_stderr

    interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    shape = [None]

    def run(x):
        if shape[0] != len(x):
            interpreter.resize_tensor_input(source["index"], list(x.shape))
            with quiet_stderr():  # the runtime announces its CPU delegate on stderr
                interpreter.allocate_tensors()
            shape[0] = len(x)
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"]).copy()

    return run


def web_runner(path, threads):
    """The web folder's model through onnxruntime (the browser's run is checked by the tests in Chromium)."""
    from digitcli.convert.web import model_in

    return onnx_runner(model_in(path), threads)


def saved_model_runner(path, threads):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return lambda x: np.asarray(loaded.serve(tf.constant(x)))


def read_meta(path):
    """The metadata of a converted file: its own (ONNX metadata properties, the LiteRT file's
    `digitcli` metadata entry) or else FILE.json beside it."""
    path = Path(path)
    found = {"onnx": onnx_metadata, "litert": litert_metadata}.get(kind_of(path), lambda p: None)(path)
    if found:
        return json.loads(found)
    sidecar = sidecar_of(path)
    try:
        return json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise DigitcliError(f"{path}: no class names stored with it ({sidecar} unreadable: {exc})") from exc


def onnx_metadata(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.get_modelmeta().custom_metadata_map.get("digitcli")


def litert_metadata(path):
    """The `digitcli` metadata entry of a .tflite file, read with LiteRT's own flatbuffer schema."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytearray(Path(path).read_bytes()), 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == b"digitcli":
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode()
    return None


def sidecar_of(path):
    path = Path(path)
    return path.with_name(path.name + ".json")
