"""Server-side batching: concurrent /predict requests in one worker share one model call.

Each request's images wait up to `window` for others; then all go through the model
together. On a 2-core CPU with 16 clients a 1 ms window doubled the requests per second of
one worker (3,921 vs 1,926) and cut p99 latency (6.4 vs 10.5 ms); with two workers 0.5 and
1 ms traded places between runs and 2 ms did less well (`make bench-serve`,
BENCHMARKS.md). Hence the default.
"""

import asyncio

import numpy as np

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
        try:
            probabilities = classifier.predict(np.concatenate([images for images, _ in batch]))
        except Exception as exc:  # every waiting request gets the error, none hangs
            for _, future in batch:
                future.set_exception(exc)
            return
        start = 0
        for images, future in batch:
            future.set_result((classifier, probabilities[start:start + len(images)]))
            start += len(images)
