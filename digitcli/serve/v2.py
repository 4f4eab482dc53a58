"""The Open Inference Protocol (v2), as KServe and Triton clients speak it, over REST.

One model, named after its weights file (`mnist_neuronet`): one FP32 input of shape
[N, 28, 28, 1] in MNIST form (0..1), one FP32 output [N, classes] of calibrated
probabilities.
"""

import json
import math

import numpy as np
from starlette.responses import JSONResponse

from digitcli.serve.guards import IMAGES
from digitcli.serve.uploads import ApiError, read_body

INPUT, OUTPUT = "images", "probabilities"


def live(request):
    return JSONResponse({"live": True})


def ready(request):
    return JSONResponse({"ready": request.app.state.model.classifier is not None})


def model_for(request):
    """The served Classifier, if the path names it; else ApiError 404."""
    holder = request.app.state.model
    name = request.path_params["name"]
    if name != holder.name:
        raise ApiError(404, f"no model {name!r}; this server serves {holder.name!r}")
    return holder.classifier


def metadata(request):
    """GET /v2/models/NAME: tensors, class names, and which .h5 the model came from."""
    classifier = model_for(request)
    meta = classifier.meta
    return JSONResponse({
        "name": request.app.state.model.name, "versions": [meta["h5_sha256"][:12]], "platform": "onnxruntime_onnx",
        "inputs": [{"name": INPUT, "datatype": "FP32", "shape": [-1, 28, 28, 1]}],
        "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, len(classifier.class_names)]}],
        "parameters": {"class_names": classifier.class_names, "weights_file": str(classifier.files.h5),
                       "h5_sha256": meta["h5_sha256"], "model": meta.get("model"),
                       "best_epoch": meta.get("best_epoch"), "val_accuracy": meta.get("val_accuracy"),
                       "temperature": classifier.temperature},
    })


async def infer(request):
    """POST /v2/models/NAME/infer."""
    classifier = model_for(request)
    body = await read_body(request, request.app.state.max_upload)
    x, request_id = parse_request(body)
    probabilities = classifier.predict_tensor(x)
    IMAGES.inc(len(x))
    response = {"model_name": request.app.state.model.name, "model_version": classifier.meta["h5_sha256"][:12],
                "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": list(probabilities.shape),
                             "data": probabilities.ravel().tolist()}]}
    if request_id is not None:
        response["id"] = request_id
    return JSONResponse(response)


def parse_request(body):
    """(float32 array [N, 28, 28, 1], request id) from an inference request, or ApiError 400."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not JSON ({exc})") from None
    inputs = request.get("inputs") if isinstance(request, dict) else None
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ApiError(400, 'expected {"inputs": [one tensor]}')
    tensor = inputs[0]
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in tensor]
    if missing:
        raise ApiError(400, f"input tensor lacks {', '.join(missing)}")
    if tensor["datatype"] != "FP32":
        raise ApiError(400, f"datatype must be FP32, not {tensor['datatype']!r}")
    shape = tensor["shape"]
    if (not isinstance(shape, list) or len(shape) != 4 or not all(isinstance(d, int) for d in shape)
            or shape[1:] != [28, 28, 1] or shape[0] < 1):
        raise ApiError(400, f"shape must be [N, 28, 28, 1] with N >= 1, not {shape}")
    try:
        x = np.asarray(tensor["data"], np.float32)
    except (ValueError, TypeError):
        raise ApiError(400, "data must be numbers (flat, or nested as the shape)") from None
    if x.size != math.prod(shape):
        raise ApiError(400, f"data holds {x.size} numbers; shape {shape} needs {math.prod(shape)}")
    if not np.isfinite(x).all():
        raise ApiError(400, "data holds NaN or infinite values")
    return x.reshape(shape), request.get("id")
