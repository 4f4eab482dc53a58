"""`digitcli serve`: the model as a web service (Starlette on uvicorn) and a drawing page.

- app.py: the routes, each a plain function; `create_app` builds the application.
- model.py: the model being served, switched when its files change on disk.
- uploads.py: request bodies and images in (one decode budget per request), JSON errors out.
- offload.py: CPU work off the event loop (a thread pool), small work inline.
- v2.py: the Open Inference Protocol (KServe / Triton) endpoints, with binary tensors.
- openapi.json: the API as an OpenAPI 3 document, served at /openapi.json.
- guards.py: pure ASGI middleware for the bearer token and Prometheus metrics.
- run.py: uvicorn, its workers and clean shutdown.
- protocol.py: uvicorn's HTTP protocol with a deadline for request headers.
- static/: the drawing page (HTML, JS, CSS; nothing fetched from elsewhere), which also
  answers in the browser in the folder `digitcli convert --to web` writes (local.js, mnist.js).
"""
