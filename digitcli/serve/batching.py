"""Server-side batching: concurrent /predict requests in one worker share one model call.

Each request's images wait up to `window` for others; then all go through the model
together (on the loop when they are few, else in the offload pool). On a 2-core CPU with
16 clients a 1 ms window doubled the requests per second of one worker (3,921 vs 1,926)
and cut p99 latency (6.4 vs 10.5 ms); with two workers 0.5 and 1 ms traded places between
runs and 2 ms did less well (`make bench-serve`, BENCHMARKS.md). Hence the default.
"""

import asyncio

import numpy as np

from digitcli.serve import offload

DEFAULT_MS = 1.0


class Batcher:
    def __init__(self, holder, window_ms):
        self.holder, self.window = holder, window_ms / 1000
        self.waiting, self.timer = [], None

    async def predict(self, images):
        """(classifier used, calibrated probabilities) for `images`, computed with others' images."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((images, future))
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.window, self.flush)
        return await future

    def flush(self):
        self.timer = None
        batch, self.waiting = self.waiting, []
        classifier = self.holder.classifier
        images = np.concatenate([images for images, _ in batch])
        if len(images) <= offload.INLINE_IMAGES:
            try:
                self.deliver(batch, classifier, classifier.predict(images))
            except Exception as exc:  # every waiting request gets the error, none hangs
                self.fail(batch, exc)
            return
        done = asyncio.get_running_loop().run_in_executor(offload.POOL, classifier.predict, images)
        done.add_done_callback(lambda f: self.fail(batch, f.exception()) if f.exception()
                               else self.deliver(batch, classifier, f.result()))

    @staticmethod
    def deliver(batch, classifier, probabilities):
        start = 0
        for images, future in batch:
            if not future.done():  # a request whose client went away was cancelled
                future.set_result((classifier, probabilities[start:start + len(images)]))
            start += len(images)

    @staticmethod
    def fail(batch, exc):
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
