"""Request bodies that have hurt the server before, for the tests and `make bench-hostile`.

Each builder returns (body bytes, Content-Type, extra headers)."""

import json

import cv2
import numpy as np

BOUNDARY = "digitclihostileboundary"


def multipart(files):
    """A multipart/form-data body of (filename, bytes) file parts."""
    parts = [f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{name}\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}", {}


def webp_bombs(count, side=7000):
    """`count` lossless WebP files of about 2 KB, each a blank side x side image."""
    bomb = cv2.imencode(".webp", np.zeros((side, side), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    return multipart([(f"{i}.webp", bomb) for i in range(count)])


def png_bomb_16bit(side=4000):
    """One 16-bit RGBA PNG, blank but for a stroke: the most decoded bytes a pixel can take."""
    image = np.zeros((side, side, 4), np.uint16)
    image[..., 3] = 65535
    cv2.line(image, (side // 3, side // 4), (side // 2, 3 * side // 4), (65535, 65535, 65535, 65535), side // 40)
    return multipart([("deep.png", cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes())])


def many_pngs(digits, count, side=28):
    """`count` PNGs of MNIST digits at side x side pixels."""
    pngs = [cv2.imencode(".png", cv2.resize(digits[i % len(digits)], (side, side)))[1].tobytes() for i in range(count)]
    return multipart([(f"{i}.png", data) for i, data in enumerate(pngs)])


def large_pngs(digits, count, side=1400):
    """`count` photo-sized noisy PNGs of dark digits on light paper (they compress badly)."""
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        paper = 255 - cv2.resize(digits[i % len(digits)], (side, side))
        noisy = np.clip(paper.astype(np.int16) + rng.integers(-12, 12, paper.shape), 0, 255).astype(np.uint8)
        files.append((f"{i}.png", cv2.imencode(".png", noisy)[1].tobytes()))
    return multipart(files)


def v2_json(count, rng=None):
    """A v2 inference request of `count` random images as JSON."""
    x = (rng or np.random.default_rng(0)).random((count, 28, 28, 1), np.float32)
    body = {"inputs": [{"name": "images", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    return json.dumps(body).encode(), "application/json", {}


def v2_binary(count, rng=None, binary_output=True):
    """The same request with the binary tensor data extension (as tritonclient sends it)."""
    x = (rng or np.random.default_rng(0)).random((count, 28, 28, 1), np.float32)
    header = json.dumps({"inputs": [{"name": "images", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "parameters": {"binary_data_output": binary_output}}).encode()
    return header + x.tobytes(), "application/octet-stream", {"Inference-Header-Content-Length": str(len(header))}


def fitting(make, limit):
    """The body `make(n)` with the largest n that keeps it within `limit` bytes (estimated
    from a sample of 16 items, then reduced by 2% until it fits)."""
    n = max(1, int(limit / (len(make(16)[0]) / 16)))
    while n > 1:
        body = make(n)
        if len(body[0]) <= limit:
            return body
        n = int(n * 0.98)
    return make(1)
