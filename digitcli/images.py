"""Find and read image files: OpenCV decodes; Pillow explains the files it cannot."""

import io
import os
from pathlib import Path

import cv2
import numpy as np

from digitcli import MAX_IMAGE_PIXELS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # we report failures ourselves


class ImageReadError(ValueError):
    """A file that cannot be used as an image; the message says why."""


class NotAnImage(ImageReadError):
    """Bytes that are no image format at all."""


class ImageTooLarge(ImageReadError):
    """An image above the pixel limit, refused before it is decoded."""


def is_image_file(name):
    """True for a file name with an image suffix that is not hidden."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES and not name.startswith(".")


def find_images(folder):
    """Paths (str) of the image files under `folder`, recursively, in a stable order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files) if is_image_file(f)]
    return found


def read_image(path):
    """Decode `path` as stored (8/16-bit, gray/BGR/BGRA); raise ImageReadError if unusable."""
    try:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # fastest; releases the GIL
    except cv2.error:  # OpenCV refuses images above OPENCV_IO_MAX_IMAGE_PIXELS this way
        image = None
    if image is None:  # a bad file, or a path imread cannot open: decode from bytes to tell
        return decode_bytes(path)
    return checked_size(image)


def checked_size(image):
    """`image`, unless it is above our pixel limit (OPENCV_IO_MAX_IMAGE_PIXELS set higher)."""
    if image.shape[0] * image.shape[1] > MAX_IMAGE_PIXELS:
        raise ImageTooLarge(too_large(image.shape[1], image.shape[0]))
    return image


def decode_bytes(path):
    """Decode the bytes of `path` (paths that imread cannot open), or say why that fails."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ImageReadError("file not found") from exc
    except OSError as exc:
        raise ImageReadError(f"cannot read file ({exc.strerror})") from exc
    return decode_image(data)


def decode_image(data):
    """Decode image bytes as stored; ImageReadError (or a subclass) says why not. Images
    above the pixel limit are refused from their header, before any pixel is decoded."""
    if not data:
        raise ImageReadError("empty file")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise undecodable(data)
    return checked_size(image)


def undecodable(data):
    """The error for bytes OpenCV could not use: Pillow reads just the header to tell why."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # our own limit applies, with a clearer message
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except UnidentifiedImageError:
        return NotAnImage("not an image file")
    except (OSError, ValueError, SyntaxError) as exc:
        return ImageReadError(f"cannot decode image ({exc})")
    if width * height > MAX_IMAGE_PIXELS:
        return ImageTooLarge(too_large(width, height))
    return ImageReadError("cannot decode image (truncated or corrupt)")


def too_large(width, height):
    return f"image is {width}x{height}, above the {MAX_IMAGE_PIXELS // 1_000_000} Mpx limit; scale it down first"
