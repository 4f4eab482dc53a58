"""The application: a list of routes over plain functions (see `create_app`)."""

import asyncio
import contextlib
import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from digitcli.predict import Prediction, ranked
from digitcli.serve import guards, inside, offload, v2
from digitcli.serve.batching import DEFAULT_MS, Batcher
from digitcli.serve.model import ModelHolder
from digitcli.serve.uploads import ApiError, error_response, is_cheap, prepare, read_body

STATIC = Path(__file__).with_name("static")
OPENAPI = Path(__file__).with_name("openapi.json")
CONFIG_VARIABLE = "DIGITCLI_SERVE_CONFIG"  # how `digitcli serve` hands its settings to uvicorn's workers
MAX_TOP_K = 100


def page(request):
    return FileResponse(STATIC / "index.html")


def openapi(request):
    """GET /openapi.json: this server's API (the Open Inference Protocol's REST paths and /predict)."""
    return FileResponse(OPENAPI, media_type="application/json")


async def predict(request):
    """POST /predict?top_k=K[&input=1]: a raw image body, or multipart/form-data with image files.
    Heavy bodies are decoded, and their answers built, off the event loop (see offload)."""
    top_k = query_int(request, "top_k", 1)
    body = await read_body(request, request.app.state.max_upload)
    content_type = request.headers.get("content-type", "application/octet-stream")
    inputs = await offload.run(prepare, content_type, body, request.query_params.get("filename", "body"),
                               inline=is_cheap(content_type, body))
    holder, batcher = request.app.state.model, request.app.state.batcher
    few = len(inputs.images) <= offload.INLINE_IMAGES
    if batcher and len(inputs.images):
        classifier, probabilities = await batcher.predict(inputs.images)
    else:
        classifier = holder.classifier
        probabilities = await offload.run(classifier.predict, inputs.images, inline=few)
    guards.IMAGES.inc(len(inputs.images))
    with_input = request.query_params.get("input") == "1"  # the 28x28 image the model saw, for the page
    return await offload.run(answer, holder.name, classifier, inputs, probabilities, top_k, with_input, inline=few)


def answer(model_name, classifier, inputs, probabilities, top_k, with_input):
    """The JSON response: a prediction or an error per upload, in order."""
    names = [name for i, name in enumerate(inputs.names) if i not in inputs.failures]
    found = iter(zip(ranked(probabilities, classifier.class_names, names, top_k, classifier.unknown(probabilities)),
                     inputs.images))
    answers = []
    for i, name in enumerate(inputs.names):
        if i in inputs.failures:
            answers.append(Prediction(name, error=inputs.failures[i][1]).as_json("filename"))
            continue
        prediction, image = next(found)
        answers.append(prediction.as_json("filename"))
        if with_input:
            answers[-1]["input_png"] = inside.png(image)
    content = {"model": model_name, "predictions": answers}
    if len(inputs.failures) == len(inputs.names):  # nothing could be predicted: the first failure's status
        status, message = inputs.failures[0]
        return JSONResponse({"error": message, **content}, status_code=status)
    return JSONResponse(content)


def query_int(request, name, default):
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_TOP_K)) and 1 <= int(raw) <= MAX_TOP_K):
        raise ApiError(400, f"{name} must be a whole number from 1 to {MAX_TOP_K}, not {raw[:20]!r}")
    return int(raw)


def api_error(request, exc):
    return error_response(exc.status, exc.message)


def http_error(request, exc):
    return error_response(exc.status_code, exc.detail, headers=getattr(exc, "headers", None))


def create_app(weights, max_upload_mb=10, token=None, watch=True, batch_ms=DEFAULT_MS):
    """The Starlette application serving `weights` (NAME.h5 with its ONNX export);
    `batch_ms` > 0 lets concurrent requests wait that long to share a model call."""
    holder = ModelHolder(weights)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        watcher = asyncio.create_task(holder.watch()) if watch else None
        yield
        if watcher:
            watcher.cancel()

    routes = [
        Route("/", page),
        Route("/predict", predict, methods=["POST"]),
        Route("/explain", inside.explain, methods=["POST"]),
        Route("/openapi.json", openapi),
        Route("/v2", v2.server_metadata),
        Route("/v2/health/live", v2.live),
        Route("/v2/health/ready", v2.ready),
        *(route for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}") for route in (
            Route(base, v2.metadata),
            Route(base + "/ready", v2.model_ready),
            Route(base + "/infer", v2.infer, methods=["POST"]))),
        Route("/metrics", guards.metrics),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = ([Middleware(guards.Metrics)] + ([Middleware(guards.RequireToken, token=token)] if token else [])
                  + [Middleware(guards.ContainErrors)])
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={ApiError: api_error, HTTPException: http_error})
    app.state.model = holder
    app.state.insides = inside.Insides()
    app.state.batcher = Batcher(holder, batch_ms) if batch_ms > 0 else None
    app.state.max_upload = int(max_upload_mb * 1024 * 1024)
    return app


def app_from_environment():
    """uvicorn's factory in each worker: the settings `digitcli serve` put in the environment."""
    return create_app(**json.loads(os.environ[CONFIG_VARIABLE]))
