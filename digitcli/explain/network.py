"""A trained network's insides, read from its ONNX export (no TensorFlow).

`Network` finds the layers a person can look at (each convolution after its ReLU, each
hidden dense layer, an LSTM's state after every row), adds their outputs and the logits to
the graph, and runs it once per batch; it also keeps the first layer's weights and, for
HiResCAM, the part of the graph from the last convolution to the logits.
"""

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from digitcli.errors import DigitcliError

SIDE = 28


@dataclass(frozen=True)
class Layer:
    """One layer to look at: `tensor` is its output in the ONNX graph."""

    name: str
    kind: str  # "conv" (maps N, C, H, W), "dense" (N, units) or "lstm" (N, rows, units)
    tensor: str
    about: str  # one sentence for a learner


class Network:
    """The layers, logits and first-layer weights of an exported model; `run` reads them."""

    def __init__(self, model_bytes, threads=0):
        model = onnx.load_from_string(model_bytes)
        graph = model.graph
        self.weights = constants(graph)
        producer = {out: node for node in graph.node for out in node.output}
        softmax = [node for node in graph.node if node.op_type == "Softmax"]
        if not softmax:
            raise DigitcliError("look inside needs a network that ends in a softmax")
        self.logits_tensor = softmax[-1].input[0]
        self.layers = find_layers(graph, producer, self.weights)
        self.first_weights, self.first_kind = first_layer_weights(graph, self.weights)
        self.session = session(with_outputs(model, [self.logits_tensor] + [l.tensor for l in self.layers]), threads)
        convs = [layer for layer in self.layers if layer.kind == "conv"]
        self.last_conv = convs[-1] if convs else None
        self.tail = None  # last convolution's maps -> logits, for HiResCAM
        self.last_conv_grid = None  # (scale, offset): map cell m is centred on input pixel scale * m + offset
        if self.last_conv:
            self.last_conv_grid = grid_of(graph, self.last_conv.tensor)
            self.tail = session(part(model, self.last_conv.tensor, self.logits_tensor), threads)
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x):
        """(N, 28, 28, 1) float32 -> (logits (N, classes), {layer name: its output, see Layer.kind})."""
        logits, *outputs = self.session.run(None, {self.input_name: x})
        return logits, {layer.name: as_layout(layer.kind, out) for layer, out in zip(self.layers, outputs)}

    def logits(self, x):
        return self.session.run([self.logits_tensor], {self.input_name: x})[0]

    def tail_logits(self, maps):
        """Logits from the last convolution's maps (N, C, H, W)."""
        return self.tail.run(None, {self.tail.get_inputs()[0].name: maps})[0]


def constants(graph):
    """{tensor name: array} for the graph's initializers and Constant nodes."""
    found = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            found[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return found


def find_layers(graph, producer, weights):
    """The layers to look at, in order: ReLUs after a convolution or a dense layer, and LSTMs."""
    layers, convs, dense = [], 0, 0
    for node in graph.node:
        source = producer.get(node.input[0]) if node.input else None
        if node.op_type == "Relu" and source is not None and source.op_type == "Conv":
            convs += 1
            w = weights.get(source.input[1])
            shape = "" if w is None else f"{w.shape[0]} filters of {w.shape[2]}x{w.shape[3]}"
            about = (f"{shape} slide over the image; each map is bright where its filter's pattern "
                     "(an edge or stroke of one direction) is found." if convs == 1 else
                     f"{shape} look at all the maps of the layer before and combine them into larger "
                     "parts: curves, corners, line ends and crossings.")
            about = about.strip()
            layers.append(Layer(f"conv {convs}", "conv", node.output[0], about[0].upper() + about[1:]))
        elif node.op_type == "Relu" and source is not None and source.op_type in ("Add", "MatMul", "Gemm"):
            dense += 1
            layers.append(Layer(f"dense {dense}", "dense", node.output[0],
                                f"Each unit is a weighted sum of {'every pixel' if dense == 1 and not convs else 'everything before'}, "
                                "kept when positive; bright units are the active ones."))
        elif node.op_type == "LSTM":
            units = next((a.i for a in node.attribute if a.name == "hidden_size"), "its")
            layers.append(Layer("lstm", "lstm", node.output[0],
                                f"The LSTM reads the image one row at a time, top to bottom; each column is "
                                f"its memory ({units} numbers) after that row."))
    return layers


def grid_of(graph, tensor):
    """(scale, offset) such that cell m of `tensor`'s maps is centred on input pixel
    scale * m + offset, from the convolutions and pools on the way to it (square kernels)."""
    scale, offset = 1.0, 0.0
    for node in graph.node:
        if node.op_type in ("Conv", "MaxPool", "AveragePool"):
            a = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
            kernel, stride = a["kernel_shape"][0], a.get("strides", [1])[0]
            dilation, pad = a.get("dilations", [1])[0], a.get("pads", [0])[0]
            if a.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", b"SAME_LOWER"):
                pad = (dilation * (kernel - 1)) // 2 if a["auto_pad"] == b"SAME_UPPER" else -(-dilation * (kernel - 1) // 2)
            scale, offset = scale * stride, offset + scale * ((kernel - 1) * dilation / 2 - pad)
        if tensor in node.output:
            break
    return scale, offset


def first_layer_weights(graph, weights):
    """(weights, kind): the first convolution's filters (C, kh, kw) as "filters", or a first
    dense layer's weights as 28x28 "templates" (units, 28, 28); (None, None) otherwise."""
    for node in graph.node:
        if node.op_type == "Conv":
            w = weights.get(node.input[1])
            if w is not None and w.ndim == 4 and w.shape[1] == 1:
                return w[:, 0].astype(np.float32), "filters"
            return None, None
        if node.op_type in ("MatMul", "Gemm"):
            w = weights.get(node.input[1])
            if w is not None and w.ndim == 2 and w.shape[0] == SIDE * SIDE:
                return w.T.reshape(-1, SIDE, SIDE).astype(np.float32), "templates"
            return None, None
        if node.op_type == "LSTM":
            return None, None
    return None, None


def with_outputs(model, tensors):
    """A copy of `model` whose outputs are `tensors` (float), in order."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.output[:]
    model.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors)
    return model


def part(model, start, end):
    """The piece of `model` from tensor `start` to tensor `end` (both float)."""
    import onnx.utils

    model = onnx.ModelProto.FromString(model.SerializeToString())
    model.graph.value_info.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
                                  for t in (start, end))
    return onnx.utils.Extractor(model).extract_model([start], [end])


def session(model, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise DigitcliError(f"cannot look inside this network ({exc})") from exc


def as_layout(kind, out):
    """ONNX's layout of a layer's output -> the one Layer.kind names."""
    if kind == "lstm":  # (rows, directions, N, units) -> (N, rows, units)
        return out[:, 0].transpose(1, 0, 2)
    return out
