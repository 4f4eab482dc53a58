"""`digitcli serve`: the model as a web service (Starlette on uvicorn) and a drawing page.

- app.py: the routes, each a plain function; `create_app` builds the application.
- model.py: the model being served, switched when its files change on disk.
- uploads.py: request bodies and images in, JSON errors out.
- v2.py: the Open Inference Protocol (KServe / Triton) endpoints.
- guards.py: pure ASGI middleware for the bearer token and Prometheus metrics.
- run.py: uvicorn, its workers and clean shutdown.
- static/: the drawing page (HTML, JS, CSS; nothing fetched from elsewhere).
"""
