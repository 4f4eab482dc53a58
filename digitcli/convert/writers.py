"""The Keras model written as ONNX, LiteRT and SavedModel files, fp32 or quantized.

int8 copies are calibrated on training images (never validation ones): ONNX by
onnxruntime's static quantization in QDQ form, LiteRT as full-integer with a
representative dataset.
"""

import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from digitcli.backend import import_keras, quiet_stderr
from digitcli.convert import INPUT, OUTPUT
from digitcli.models import INPUT_SHAPE


def input_spec(keras):
    return keras.InputSpec(shape=(None, *INPUT_SHAPE), dtype="float32", name=INPUT)


def write_onnx(model, path, meta, quantize, calibration):
    """NAME[.fp16|.int8].onnx with tensors named `images` and `probabilities` and `meta` in its metadata."""
    import onnx

    keras = import_keras()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp, "fp32.onnx")
        with quiet_stderr():
            model.export(str(fp32), format="onnx", verbose=False, input_signature=[input_spec(keras)])
        graph = onnx.load(str(fp32))
        rename_io(graph, INPUT, OUTPUT)
        if quantize == "fp16":
            from onnxruntime.transformers.float16 import convert_float_to_float16

            graph = convert_float_to_float16(graph, keep_io_types=True)
        elif quantize == "int8":
            onnx.save(graph, str(fp32))
            graph = quantize_onnx_int8(fp32, Path(tmp, "int8.onnx"), calibration)
        del graph.metadata_props[:]
        for key, value in metadata_strings(meta).items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(path))


def rename_io(graph, input_name, output_name):
    """Give the graph's one input and one output these names, everywhere they are used."""
    renames = {graph.graph.input[0].name: input_name, graph.graph.output[0].name: output_name}
    for node in graph.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    graph.graph.input[0].name, graph.graph.output[0].name = input_name, output_name


def quantize_onnx_int8(fp32, out, calibration):
    """onnxruntime's static int8 quantization (QDQ, per-channel weights) calibrated on `calibration`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(np.array_split(calibration, max(1, len(calibration) // 50)))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {INPUT: batch}

    logging.disable(logging.WARNING)  # onnxruntime's advice to pre-process, logged at every call
    try:
        quantize_static(str(fp32), str(out), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    return onnx.load(str(out))


def write_litert(model, path, meta, quantize, calibration):
    """NAME[.fp16|.int8].tflite through Keras's own LiteRT export (TensorFlow backend)."""
    import tensorflow as tf

    keras = import_keras()
    options = {}
    if quantize == "fp16":
        options = {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_types": [tf.float16]}}
    elif quantize == "int8":
        def representative():
            for image in calibration[:300]:
                yield [image[None]]

        options = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative,
                   "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}
    with quiet_stderr():
        model.export(str(path), format="litert", verbose=False, input_signature=[input_spec(keras)], **options)
    embed_litert_metadata(path, meta)


def embed_litert_metadata(path, meta):
    """`meta` as the .tflite file's own metadata entry `digitcli` (LiteRT's flatbuffer keeps named buffers)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    buffer = schema.BufferT()
    buffer.data = bytearray(json.dumps(meta).encode())
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = "digitcli", len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != b"digitcli"] + [entry]
    flatbuffer_utils.write_model(model, str(path))


def write_saved_model(model, path, meta, quantize, calibration):
    """A TensorFlow SavedModel folder with a `serve` endpoint; fp32 only."""
    keras = import_keras()
    with quiet_stderr():
        model.export(str(path), format="tf_saved_model", verbose=False, input_signature=[input_spec(keras)])


def metadata_strings(meta):
    """String key/values for a file's own metadata."""
    return {"class_names": json.dumps(meta["class_names"]), "temperature": repr(float(meta["temperature"])),
            "digitcli": json.dumps(meta)}


def remove(path):
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
