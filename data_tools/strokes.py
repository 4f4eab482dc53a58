"""Turn an MNIST digit back into pen strokes: its skeleton, walked into polylines.

Used to redraw test digits as a person would draw them, with any pen width, on a canvas
(`data_tools.stress`) or with pointer events in a browser (the page test).
"""

import numpy as np

NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def trace(digit, level=100):
    """Polylines [[(x, y), ...], ...] in the digit's pixel coordinates, covering its skeleton."""
    from skimage.morphology import skeletonize

    pixels = set(zip(*np.nonzero(skeletonize(digit > level))))

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
        strokes.append(straighten([(x, y) for y, x in path]))
    return strokes


def straighten(points, tolerance=0.7):
    """Drop the pixel staircase: the polyline's corners within `tolerance` pixels (Douglas-Peucker)."""
    import cv2

    if len(points) < 3:
        return [(float(x), float(y)) for x, y in points]
    curve = np.array(points, np.float32).reshape(-1, 1, 2)
    return [(float(x), float(y)) for x, y in cv2.approxPolyDP(curve, tolerance, False).reshape(-1, 2)]
