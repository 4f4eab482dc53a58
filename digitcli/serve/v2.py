"""The Open Inference Protocol (v2), as KServe and Triton clients speak it, over REST,
with the binary tensor data extension.

One model, named after its weights file (`mnist_neuronet`), whose version is the first 12
hex digits of its .h5's SHA-256 (of the file itself for a converted .onnx or .tflite): one FP32 input `images` of shape [N, 28, 28, 1] in MNIST
form (0..1), one FP32 output `probabilities` [N, classes], calibrated. Every path exists
with and without `/versions/VERSION`. Binary tensors (the request header
`Inference-Header-Content-Length`: that many bytes of JSON, then the tensors' raw
little-endian bytes) work both ways; `binary_data_output` or an output's `binary_data`
parameter asks for a binary answer. Bodies are parsed strictly: anything off is a 400
that says what, never a 500.
"""

import json
import math

import numpy as np
from starlette.responses import JSONResponse, Response

from digitcli import __version__
from digitcli.serve import offload
from digitcli.serve.guards import IMAGES
from digitcli.serve.uploads import ApiError, read_body

INPUT, OUTPUT = "images", "probabilities"
EXTENSIONS = ["binary_tensor_data"]
HEADER_LENGTH = "inference-header-content-length"
FP32 = np.dtype("<f4")


def live(request):
    return JSONResponse({"live": True})


def ready(request):
    return JSONResponse({"ready": request.app.state.model.classifier is not None})


def server_metadata(request):
    """GET /v2."""
    return JSONResponse({"name": "digitcli", "version": __version__, "extensions": EXTENSIONS})


def model_for(request):
    """The served Classifier, if the path names it (and its version, if given); else ApiError 404."""
    holder = request.app.state.model
    name, version = request.path_params["name"], request.path_params.get("version")
    if name != holder.name:
        raise ApiError(404, f"no model {name!r}; this server serves {holder.name!r}")
    classifier = holder.classifier
    if version is not None and version != classifier.version:
        raise ApiError(404, f"no version {version!r} of {name!r}; the version served is {classifier.version!r}")
    return classifier


def model_ready(request):
    """GET /v2/models/NAME[/versions/V]/ready."""
    model_for(request)
    return JSONResponse({"name": request.path_params["name"], "ready": True})


def metadata(request):
    """GET /v2/models/NAME[/versions/V]: tensors, class names, and which .h5 the model came from."""
    classifier = model_for(request)
    meta = classifier.meta
    return JSONResponse({
        "name": request.app.state.model.name, "versions": [classifier.version], "platform": classifier.platform,
        "inputs": [{"name": INPUT, "datatype": "FP32", "shape": [-1, 28, 28, 1]}],
        "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, len(classifier.class_names)]}],
        "parameters": {"class_names": classifier.class_names, "weights_file": str(classifier.source),
                       "h5_sha256": meta.get("h5_sha256"), "model": meta.get("model"), "quantize": meta.get("quantize"),
                       "best_epoch": meta.get("best_epoch"), "val_accuracy": meta.get("val_accuracy"),
                       "temperature": classifier.temperature, "unknown_below": meta.get("unknown_below")},
    })


async def infer(request):
    """POST /v2/models/NAME[/versions/V]/infer, JSON or binary; heavy bodies are parsed off the loop."""
    classifier = model_for(request)
    if request.headers.get("content-encoding", "identity").lower() != "identity":
        raise ApiError(415, "compressed request bodies are not accepted (send Content-Encoding: identity)")
    body = await read_body(request, request.app.state.max_upload)
    small = len(body) <= offload.INLINE_BYTES
    parsed = await offload.run(parse_request, body, request.headers.get(HEADER_LENGTH), inline=small)
    few = len(parsed.x) <= offload.INLINE_IMAGES
    probabilities = await offload.run(classifier.predict_tensor, parsed.x, inline=few)
    IMAGES.inc(len(parsed.x))
    return await offload.run(response, request.app.state.model.name, classifier.version, parsed,
                             probabilities, inline=few)


class Parsed:
    """An inference request: model input `x`, its `id`, whether the answer goes in binary."""

    def __init__(self, x, request_id, binary):
        self.x, self.id, self.binary = x, request_id, binary


def parse_request(body, header_length=None):
    """Parsed from an inference request body (JSON, then the binary tensors if
    `header_length` is given), or ApiError 400 saying what is wrong."""
    json_part, binary = split_body(body, header_length)
    # Large bodies are parsed in a thread: a Python-level number hook gives the GIL back to the
    # event loop every few milliseconds (json's C scanner alone held it for 220 ms on 10 MB).
    numbers = {"parse_float": json_float, "parse_int": json_int} if len(json_part) > offload.INLINE_BYTES else {}
    try:
        request = json.loads(json_part, parse_constant=refuse_constant, **numbers)
    except RecursionError:
        raise ApiError(400, "body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise ApiError(400, 'expected a JSON object {"inputs": [...]}')
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ApiError(400, "id must be a string")
    parameters = dict_field(request, "parameters", "request parameters")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ApiError(400, f'expected {{"inputs": [one tensor]}} (this model has one input, {INPUT!r})')
    x = tensor(inputs[0], binary)
    binary_output = parameters.get("binary_data_output", False)
    outputs = request.get("outputs")
    if outputs is not None:
        binary_output = requested_binary(outputs, binary_output)
    if not isinstance(binary_output, bool):
        raise ApiError(400, "binary_data_output must be true or false")
    return Parsed(x, request_id, binary_output)


def split_body(body, header_length):
    """(JSON bytes, binary bytes) of a body with the binary extension's header length, if given."""
    if header_length is None:
        return body, b""
    if not (header_length.isascii() and header_length.isdigit() and int(header_length) <= len(body)):
        raise ApiError(400, f"Inference-Header-Content-Length must be a byte count within the body "
                            f"({len(body)} bytes), not {header_length[:20]!r}")
    n = int(header_length)
    return body[:n], body[n:]


def json_float(text):
    return float(text)


def json_int(text):
    return int(text)


def refuse_constant(name):
    raise ApiError(400, f"data holds {name}; only finite numbers are allowed")


def dict_field(obj, key, what):
    value = obj.get(key, {})
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be a JSON object")
    return value


def tensor(spec, binary):
    """The input tensor as float32 [N, 28, 28, 1], from its JSON data or its binary bytes."""
    name = spec.get("name")
    if name != INPUT:
        raise ApiError(400, f"input must be named {INPUT!r}, not {name!r}")
    if spec.get("datatype") != "FP32":
        raise ApiError(400, f"datatype must be FP32, not {spec.get('datatype')!r}")
    shape = spec.get("shape")
    if (not isinstance(shape, list) or len(shape) != 4 or not all(type(d) is int for d in shape)
            or shape[1:] != [28, 28, 1] or shape[0] < 1):
        raise ApiError(400, f"shape must be [N, 28, 28, 1] with N >= 1, not {str(shape)[:100]}")
    count = math.prod(shape)
    size = dict_field(spec, "parameters", "input parameters").get("binary_data_size")
    if size is not None:
        if "data" in spec:
            raise ApiError(400, "an input has either data or binary_data_size, not both")
        if type(size) is not int or size != count * FP32.itemsize or size != len(binary):
            raise ApiError(400, f"binary_data_size must be {count * FP32.itemsize} (FP32 {shape}) and the bytes "
                                f"after the JSON header; got {size!r} and {len(binary)} bytes")
        x = np.frombuffer(binary, FP32).astype(np.float32)
    else:
        if binary:
            raise ApiError(400, f"{len(binary)} bytes after the JSON header, but no input has binary_data_size")
        if "data" not in spec:
            raise ApiError(400, "input tensor lacks data (or binary_data_size)")
        x = json_numbers(spec["data"])
        if x.size != count:
            raise ApiError(400, f"data holds {x.size} numbers; shape {shape} needs {count}")
    if not np.isfinite(x).all():
        raise ApiError(400, "data holds NaN or infinite values")
    return x.reshape(shape)


def json_numbers(data):
    """A flat float32 array of JSON numbers, flat or nested as the shape."""
    if not isinstance(data, list):
        raise ApiError(400, "data must be a list of numbers (flat, or nested as the shape)")
    try:
        x = np.asarray(data, np.float32)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ApiError(400, "data must be numbers (flat, or nested as the shape), each within FP32's range") from None
    if not np.isfinite(x).all():
        raise ApiError(400, "data holds numbers outside FP32's range")
    return x.ravel()


def requested_binary(outputs, default):
    """Whether the requested outputs (only `probabilities` exists) go in binary."""
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise ApiError(400, "outputs must be a list of objects")
    binary = default
    for output in outputs:
        if output.get("name") != OUTPUT:
            raise ApiError(400, f"the only output is {OUTPUT!r}, not {output.get('name')!r}")
        parameters = dict_field(output, "parameters", "output parameters")
        if "classification" in parameters:
            raise ApiError(400, "the classification extension is not supported; ask for probabilities")
        binary = parameters.get("binary_data", binary)
    return binary


def response(model_name, version, parsed, probabilities):
    """The inference response, in JSON or with the output's bytes after a JSON header."""
    probabilities = np.ascontiguousarray(probabilities, FP32)
    output = {"name": OUTPUT, "datatype": "FP32", "shape": list(probabilities.shape)}
    content = {"model_name": model_name, "model_version": version, "outputs": [output]}
    if parsed.id is not None:
        content["id"] = parsed.id
    if not parsed.binary:
        output["data"] = probabilities.ravel().tolist()
        return JSONResponse(content)
    output["parameters"] = {"binary_data_size": probabilities.nbytes}
    header = json.dumps(content).encode()
    return Response(header + probabilities.tobytes(), media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(len(header))})
