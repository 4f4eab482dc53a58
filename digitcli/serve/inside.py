"""POST /explain: the drawing page's look inside the network. One image in; the answer, each
layer's activation maps and where the model looked for its answer out, as small PNGs
(`digitcli.explain` through the model's ONNX export, a few milliseconds for the CNN)."""

import base64

import cv2
import numpy as np
from starlette.responses import JSONResponse

from digitcli.calibration import calibrated_from_logits
from digitcli.errors import DigitcliError
from digitcli.explain.explanation import open_network
from digitcli.explain.saliency import where_it_looked
from digitcli.explain.tiles import coloured, grid, opencv_colours
from digitcli.predict import ranked
from digitcli.preprocess import to_model_input
from digitcli.serve import offload
from digitcli.serve.uploads import ApiError, is_cheap, prepare, read_body

COLUMNS = {"conv": 16, "dense": 100}  # tiles (or units) per row of a layer's picture
MAGMA = opencv_colours(cv2.COLORMAP_MAGMA)
TURBO = opencv_colours(cv2.COLORMAP_TURBO)


async def explain(request):
    """POST /explain: an image body (as /predict takes it, one image)."""
    body = await read_body(request, request.app.state.max_upload)
    content_type = request.headers.get("content-type", "application/octet-stream")
    inputs = await offload.run(prepare, content_type, body, request.query_params.get("filename", "body"),
                               inline=is_cheap(content_type, body))
    if len(inputs.names) != 1:
        raise ApiError(400, f"/explain takes one image, not {len(inputs.names)}")
    if inputs.failures:
        raise ApiError(*inputs.failures[0])
    holder = request.app.state.model
    content = await offload.run(look_inside, holder.classifier, request.app.state.insides, inputs.images[0],
                                inputs.names[0])
    return JSONResponse({"model": holder.name, **content})


class Insides:
    """The Network of the model being served, opened once per model (the served model may switch)."""

    def __init__(self):
        self.classifier, self.network = None, None

    def of(self, classifier):
        if classifier is not self.classifier:
            try:
                network = open_network(classifier)
            except DigitcliError as exc:
                raise ApiError(422, exc.message) from exc
            self.classifier, self.network = classifier, network
        return self.network


def look_inside(classifier, insides, image, name):
    """The /explain answer for one MNIST-form image, uploaded as `name`."""
    network = insides.of(classifier)
    x = to_model_input(image[None])
    logits, activations = network.run(x)
    probabilities = calibrated_from_logits(logits, classifier.temperature)
    answer = int(probabilities[0].argmax())
    maps = activations[network.last_conv.name][0] if network.last_conv else None
    heat = where_it_looked(network, x[0], answer, maps)
    prediction = ranked(probabilities, classifier.class_names, [name], len(classifier.class_names),
                        classifier.unknown(probabilities))[0]
    return {
        "prediction": prediction.as_json("filename"),
        "input_png": png(image),
        "looked": {"png": png(heat_rgba(heat)), "method": "HiResCAM" if network.last_conv else "input gradient"},
        "layers": [{"name": layer.name, "kind": layer.kind, "about": layer.about,
                    "png": png(layer_picture(layer.kind, activations[layer.name][0]))} for layer in network.layers],
    }


def layer_picture(kind, out):
    """RGB of one layer's output: conv maps tiled in channel order (they stay in place while
    a person draws), dense units as a grid, an LSTM's state as units x rows."""
    if kind == "conv":
        canvas, _ = grid(out, COLUMNS["conv"], gap=max(1, out.shape[1] // 8))
        return coloured(canvas, MAGMA, 0.0, float(out.max()))
    if kind == "dense":
        columns = min(COLUMNS["dense"], len(out))
        padded = np.full(-(-len(out) // columns) * columns, np.nan, np.float32)
        padded[:len(out)] = out
        return coloured(padded.reshape(-1, columns), MAGMA, 0.0, float(out.max()))
    return coloured(out.T, MAGMA, float(out.min()), float(out.max()))


def heat_rgba(heat):
    """A 0..1 map as colour whose opacity is the map itself, to lay over the image."""
    rgba = np.dstack([coloured(heat, TURBO, 0.0, 1.0), np.round(heat * 220).astype(np.uint8)])
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)


def png(image):
    """A data: URL of `image` (gray, RGB or BGRA as OpenCV writes them)."""
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", image)[1]).decode()
