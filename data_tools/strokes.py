"""Turn an MNIST digit back into pen strokes: its skeleton, walked into polylines.

Used to redraw test digits as a person would draw them, with any pen width, on a canvas
(`data_tools.stress`) or with pointer events in a browser (the page test).
"""

import cv2
import numpy as np

NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
UPSAMPLE = 4  # the skeleton is taken at 4x: smoother, and small loops stay open


def trace(digit, level=128):
    """Polylines [[(x, y), ...], ...] in the digit's pixel coordinates, covering its skeleton."""
    from skimage.morphology import skeletonize

    big = cv2.resize(digit, None, fx=UPSAMPLE, fy=UPSAMPLE, interpolation=cv2.INTER_CUBIC)
    pixels = set(zip(*np.nonzero(skeletonize(big > level))))

    def around(p):
        return [(p[0] + dy, p[1] + dx) for dy, dx in NEIGHBOURS if (p[0] + dy, p[1] + dx) in pixels]

    remaining, strokes = set(pixels), []
    while remaining:
        ends = [p for p in remaining if len(around(p)) == 1]
        path = [min(ends or remaining)]
        remaining.discard(path[0])
        while True:
            fresh = [q for q in around(path[-1]) if q in remaining]
            if not fresh:
                break
            here = path[-1]
            path.append(min(fresh, key=lambda q: abs(q[0] - here[0]) + abs(q[1] - here[1])))  # straight steps first
            remaining.discard(path[-1])
        joins = [q for q in around(path[-1]) if q not in path[-3:]]
        if joins:  # reach back to the junction or loop start this stroke came from
            path.append(joins[0])
        strokes.append(straighten([((x + 0.5) / UPSAMPLE - 0.5, (y + 0.5) / UPSAMPLE - 0.5) for y, x in path],
                                  tolerance=0.7 / UPSAMPLE * 2))
    return [s for s in strokes if len(strokes) == 1 or length(s) > 1.0]  # skeleton spurs under a pixel go


def length(stroke):
    return float(np.sum(np.hypot(*np.diff(np.array(stroke), axis=0).T))) if len(stroke) > 1 else 0.0


def straighten(points, tolerance=0.7):
    """Drop the pixel staircase: the polyline's corners within `tolerance` pixels
    (Douglas-Peucker). A closed loop is split at its point farthest from the start first:
    the algorithm measures against the chord between the ends, which a loop does not have."""
    if len(points) < 3:
        return [(float(x), float(y)) for x, y in points]
    curve = np.array(points, np.float32)
    far = int(np.argmax(np.hypot(*(curve - curve[0]).T)))
    if 0 < far < len(curve) - 1 and np.hypot(*(curve[-1] - curve[0])) < tolerance:
        return straighten(points[:far + 1], tolerance)[:-1] + straighten(points[far:], tolerance)
    simplified = cv2.approxPolyDP(curve.reshape(-1, 1, 2), tolerance, False).reshape(-1, 2)
    return [(float(x), float(y)) for x, y in simplified]
