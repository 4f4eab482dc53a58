"""The model being served: one Classifier, replaced when its files change on disk.

A new model is taken only once its ONNX export is recorded as matching its .h5 (the
SHA-256 check in `artifacts`); while `digitcli train --force` is still writing, the old
model goes on answering, so a switch never fails a request.
"""

import asyncio
import logging
import os

from digitcli.errors import DigitcliError
from digitcli.inference import Classifier

WATCH_SECONDS = 0.5
LOG = logging.getLogger("digitcli.serve")


def load(weights):
    """A Classifier tuned for serving: onnxruntime for every batch size, one thread per worker."""
    classifier = Classifier(weights, rebuild=False, threads=1, opencv_below=0)
    classifier.onnxruntime_runner  # load the session now, not on the first request
    return classifier


def signature(files):
    """What changes when any of the model's files is replaced."""
    stamps = []
    for path in (files.h5, files.onnx, files.onnx_meta):
        try:
            st = os.stat(path)
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


class ModelHolder:
    def __init__(self, weights):
        self.classifier = load(weights)
        self.name = self.classifier.files.h5.stem
        self.seen = signature(self.classifier.files)

    def refresh(self):
        """Switch to the files on disk if they changed and are in step and valid; True if
        switched. Files that cannot be served are logged once and looked at again when they
        change (mid-write, mismatched or broken: the old model goes on answering)."""
        now = signature(self.classifier.files)
        if now == self.seen:
            return False
        self.seen = now
        try:
            fresh = load(self.classifier.files.h5)
        except DigitcliError as exc:
            LOG.warning("not switching to the changed model files: %s", exc.message)
            return False
        self.classifier = fresh
        LOG.warning("now serving the new %s", fresh.files.h5)
        return True

    async def watch(self, every=WATCH_SECONDS):
        """Look for new weights every `every` seconds, loading them off the event loop; no
        error ends the watch."""
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                LOG.exception("error while looking for new model files; still serving %s", self.classifier.files.h5)
