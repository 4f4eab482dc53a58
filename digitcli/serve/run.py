"""Start uvicorn on the application: checks first, one line on where it listens, clean stop."""

import ipaddress
import json
import os
import shutil
import tempfile

from digitcli.inference import open_classifier
from digitcli.serve.app import CONFIG_VARIABLE
from digitcli.serve.batching import DEFAULT_MS

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host):
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(weights, host="127.0.0.1", port=8000, workers=1, max_upload_mb=10.0, token=None, batch_ms=DEFAULT_MS,
          say=print, warn=print):
    """Serve `weights` until Ctrl-C or SIGTERM (requests in flight finish first)."""
    import uvicorn

    classifier = open_classifier(weights, rebuild=False)  # a clear error now rather than in every worker
    meta = classifier.meta
    os.environ[CONFIG_VARIABLE] = json.dumps({"weights": str(weights), "max_upload_mb": max_upload_mb, "token": token,
                                              "batch_ms": batch_ms})
    metrics_dir = None
    if workers > 1:  # Prometheus counters summed over the worker processes
        metrics_dir = tempfile.mkdtemp(prefix="digitcli-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    accuracy = f", validation accuracy {100 * meta['val_accuracy']:.2f}%" if "val_accuracy" in meta else ""
    shown_host = f"[{host}]" if ":" in host else host
    say(f"Serving {classifier.source.stem} ({classifier.source}: {meta.get('model', 'model')}, "
        f"{len(classifier.class_names)} classes{accuracy}) at http://{shown_host}:{port}/ "
        f"with {workers} worker{'s' * (workers != 1)}{', token required' if token else ''}. Ctrl-C stops.")
    if not is_loopback(host) and not token:
        warn(f"Warning: listening on {host} without --token: anyone who can reach this address can use the model.")
    try:
        uvicorn.run("digitcli.serve.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", access_log=False, timeout_keep_alive=5, timeout_graceful_shutdown=10,
                    http="digitcli.serve.protocol:HeaderDeadlineProtocol")
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
