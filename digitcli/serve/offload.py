"""CPU work off the event loop, so one heavy request never stalls the others (or the health checks).

Work whose cost is small and bounded (one small image, a model call on a few images) runs
on the loop itself: a hop to a thread costs more than it saves there. Anything larger goes
to one pool of threads per worker process, as many as there are cores: OpenCV and
onnxruntime release the GIL, and the pool's size bounds how many heavy requests decode
at once (and so their memory: each has its own decode budget).
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

INLINE_BYTES = 64 * 1024  # request bodies up to this size may be handled on the loop
INLINE_PIXELS = 512 * 512  # ... if the one image they hold declares at most this many pixels
INLINE_IMAGES = 64  # model calls on at most this many images run on the loop (well under a millisecond)

POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="digitcli-cpu")


async def run(function, *args, inline=False):
    """`function(*args)`, on the loop if `inline`, else in the pool."""
    if inline:
        return function(*args)
    return await asyncio.get_running_loop().run_in_executor(POOL, function, *args)
