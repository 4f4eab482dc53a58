"""The model being served: one Classifier, replaced when its files change on disk.

A new model is taken only once its ONNX export is recorded as matching its .h5 (the
SHA-256 check in `artifacts`); while `digitcli train --force` is still writing, the old
model goes on answering, so a switch never fails a request.
"""

import asyncio
import logging
import os

from digitcli.errors import DigitcliError
from digitcli.inference import open_classifier

WATCH_SECONDS = 0.5
LOG = logging.getLogger("digitcli.serve")


def load(weights):
    """A classifier tuned for serving: one runtime thread per worker; for NAME.h5, onnxruntime
    for every batch size (its session loaded now, not on the first request)."""
    classifier = open_classifier(weights, threads=1, rebuild=False, opencv_below=0)
    if classifier.files is not None:
        classifier.onnxruntime_runner
    return classifier


def signature(paths):
    """What changes when any of the model's files is replaced."""
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


class ModelHolder:
    def __init__(self, weights):
        self.classifier = load(weights)
        self.name = self.classifier.source.stem
        self.seen = signature(self.classifier.watched)

    def refresh(self):
        """Switch to the files on disk if they changed and are in step and valid; True if
        switched. Files that cannot be served are logged once and looked at again when they
        change (mid-write, mismatched or broken: the old model goes on answering)."""
        now = signature(self.classifier.watched)
        if now == self.seen:
            return False
        self.seen = now
        try:
            fresh = load(self.classifier.source)
        except DigitcliError as exc:
            LOG.warning("not switching to the changed model files: %s", exc.message)
            return False
        self.classifier = fresh
        LOG.warning("now serving the new %s", fresh.source)
        return True

    async def watch(self, every=WATCH_SECONDS):
        """Look for new weights every `every` seconds, loading them off the event loop; no
        error ends the watch."""
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                LOG.exception("error while looking for new model files; still serving %s", self.classifier.source)
