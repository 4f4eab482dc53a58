"""The application: a list of routes over plain functions (see `create_app`)."""

import asyncio
import base64
import contextlib
import json
import os
from pathlib import Path

import cv2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from digitcli.predict import Prediction, ranked
from digitcli.serve import guards, v2
from digitcli.serve.batching import DEFAULT_MS, Batcher
from digitcli.serve.model import ModelHolder
from digitcli.serve.uploads import ApiError, error_response, multipart_files, read_body, status_of, to_inputs

STATIC = Path(__file__).with_name("static")
CONFIG_VARIABLE = "DIGITCLI_SERVE_CONFIG"  # how `digitcli serve` hands its settings to uvicorn's workers
MAX_TOP_K = 100


def page(request):
    return FileResponse(STATIC / "index.html")


async def predict(request):
    """POST /predict?top_k=K[&input=1]: a raw image body, or multipart/form-data with image files."""
    top_k = query_int(request, "top_k", 1)
    body = await read_body(request, request.app.state.max_upload)
    kind = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        uploads = await multipart_files(request.headers, body)
    elif kind.startswith("image/") or kind == "application/octet-stream":
        uploads = [(request.query_params.get("filename", "body"), body)]
    else:
        raise ApiError(415, f"send an image (Content-Type image/* or application/octet-stream) "
                            f"or multipart/form-data, not {kind}")
    images, failures = to_inputs(uploads)
    holder, batcher = request.app.state.model, request.app.state.batcher
    if batcher and len(images):
        classifier, probabilities = await batcher.predict(images)
    else:
        classifier = holder.classifier
        probabilities = classifier.predict(images)
    names = [name for i, (name, _) in enumerate(uploads) if i not in failures]
    found = iter(zip(ranked(probabilities, classifier.class_names, names, top_k), images))
    guards.IMAGES.inc(len(images))
    with_input = request.query_params.get("input") == "1"  # the 28x28 image the model saw, for the page
    answers = []
    for i, (name, _) in enumerate(uploads):
        if i in failures:
            answers.append(Prediction(name, error=str(failures[i])).as_json("filename"))
            continue
        prediction, image = next(found)
        answers.append(prediction.as_json("filename"))
        if with_input:
            answers[-1]["input_png"] = "data:image/png;base64," + base64.b64encode(
                cv2.imencode(".png", image)[1]).decode()
    content = {"model": holder.name, "predictions": answers}
    if len(failures) == len(uploads):  # nothing could be predicted: the first failure's status
        first = failures[0]
        return JSONResponse({"error": str(first), **content}, status_code=status_of(first))
    return JSONResponse(content)


def query_int(request, name, default):
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP_K:
        raise ApiError(400, f"{name} must be a whole number from 1 to {MAX_TOP_K}, not {raw!r}")
    return int(raw)


def api_error(request, exc):
    return error_response(exc.status, exc.message)


def http_error(request, exc):
    return error_response(exc.status_code, exc.detail, headers=getattr(exc, "headers", None))


def server_error(request, exc):
    return error_response(500, f"internal error ({exc.__class__.__name__})")


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
        Route("/v2/health/live", v2.live),
        Route("/v2/health/ready", v2.ready),
        Route("/v2/models/{name}", v2.metadata),
        Route("/v2/models/{name}/infer", v2.infer, methods=["POST"]),
        Route("/metrics", guards.metrics),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(guards.Metrics)] + ([Middleware(guards.RequireToken, token=token)] if token else [])
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error})
    app.state.model = holder
    app.state.batcher = Batcher(holder, batch_ms) if batch_ms > 0 else None
    app.state.max_upload = int(max_upload_mb * 1024 * 1024)
    return app


def app_from_environment():
    """uvicorn's factory in each worker: the settings `digitcli serve` put in the environment."""
    return create_app(**json.loads(os.environ[CONFIG_VARIABLE]))
