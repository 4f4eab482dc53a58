"""Pure ASGI middleware (no per-request task or copy): the bearer token, the metrics, and
a JSON 500 for the unexpected."""

import hmac
import logging
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from starlette.responses import Response

from digitcli.serve.uploads import error_response

PUBLIC_PATHS = ("/", "/v2/health/live", "/v2/health/ready", "/openapi.json")  # and the page's files under /static/

LOG = logging.getLogger("digitcli.serve")
REQUESTS = Counter("digitcli_requests", "HTTP requests by endpoint and status", ["endpoint", "status"])
LATENCY = Histogram("digitcli_request_seconds", "Time from request to response, by endpoint", ["endpoint"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
IMAGES = Counter("digitcli_images_predicted", "Images classified (POST /predict and v2 infer)")


class RequireToken:
    """Every path but the health checks and the page's own files needs `Authorization: Bearer TOKEN`."""

    def __init__(self, app, token):
        self.app, self.expected = app, token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not public(scope["path"]):
            given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            scheme, _, credentials = given.strip().partition(b" ")
            # the scheme is case-insensitive (RFC 9110); the token is compared in constant time
            if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self.expected):
                response = error_response(401, "missing or wrong token: send Authorization: Bearer TOKEN",
                                          headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def public(path):
    return path in PUBLIC_PATHS or path.startswith("/static/")


class Metrics:
    """Counts requests by route and status and times them; the route, not the raw path, is
    the label, so /v2/models/NAME/infer stays one series."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            REQUESTS.labels(endpoint, str(status[0])).inc()
            LATENCY.labels(endpoint).observe(time.perf_counter() - start)


class ContainErrors:
    """A request whose handler fails unexpectedly gets a JSON 500, the error goes to the log,
    and the connection stays usable (Starlette's own handler re-raises to the server, which
    then drops a keep-alive connection without saying so)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            LOG.exception("internal error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await error_response(500, f"internal error ({exc.__class__.__name__})")(scope, receive, send)


def metrics(request):
    """GET /metrics: Prometheus text format, summed over every worker process."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
