"""Find and read image files: OpenCV decodes, Pillow reads the header first."""

import io
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
MAX_PIXELS = 50_000_000  # refuse larger images before decoding them
Image.MAX_IMAGE_PIXELS = None  # the check below is ours, with a clearer message
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # we report failures ourselves


class ImageReadError(ValueError):
    """A file that cannot be used as an image; the message says why."""


def is_image_file(path):
    return Path(path).suffix.lower() in IMAGE_SUFFIXES and not Path(path).name.startswith(".")


def find_images(folder):
    """Image files under `folder`, recursively, in a stable order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root, f) for f in sorted(files) if is_image_file(f)]
    return found


def read_image(path):
    """Decode `path` as stored (8/16-bit, gray/BGR/BGRA); raise ImageReadError if unusable."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ImageReadError("file not found") from exc
    except OSError as exc:
        raise ImageReadError(f"cannot read file ({exc.strerror})") from exc
    if not data:
        raise ImageReadError("empty file")
    check_header(data)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageReadError("cannot decode image (truncated or corrupt)")
    return image


def check_header(data):
    """Read only the header; refuse files that are not images or too large to decode."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except UnidentifiedImageError as exc:
        raise ImageReadError("not an image file") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"cannot decode image ({exc})") from exc
    if width * height > MAX_PIXELS:
        raise ImageReadError(
            f"image is {width}x{height}, above the {MAX_PIXELS // 1_000_000} Mpx limit; scale it down first"
        )
