"""Find and read image files: Pillow reads the header, OpenCV decodes.

Every image's declared size is read from its header (Pillow reads no pixels for that)
before any pixel is decoded, so a small file that declares a huge image costs nothing.
Large JPEGs are decoded already reduced (libjpeg scales while decoding); a request to the
server has a budget of decoded bytes for all its images together (`DecodeBudget`).
"""

import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from digitcli import MAX_IMAGE_PIXELS
from digitcli.preprocess import WORK_SIDE

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
JPEG_SUFFIXES = {".jpg", ".jpeg"}
GRAY_BYTES = {"1": 1, "L": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "I": 4, "F": 4}
COLOUR_BYTES = 4  # any other mode: up to 4 channels once decoded, of 8 bits (twice that for 16-bit files)
PREPROCESS_COST = 64 * 1024  # what a DecodeBudget charges at least for an image not in MNIST form already
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # we report failures ourselves


class ImageReadError(ValueError):
    """A file that cannot be used as an image; the message says why."""


class NotAnImage(ImageReadError):
    """Bytes that are no image format at all (or none the server decodes)."""


class ImageTooLarge(ImageReadError):
    """An image above the pixel limit or the request's decode budget, refused before it is decoded."""


@dataclass(frozen=True)
class Header:
    """What an image file declares, read without decoding its pixels."""

    format: str
    width: int
    height: int
    mode: str
    sixteen_bit: bool = False  # 16 bits a channel (Pillow's raw mode says so; its mode may not)

    @property
    def shrink(self):
        """1, 2, 4 or 8: how much smaller a JPEG can be decoded and still be WORK_SIDE on its
        longer side (what preprocessing reduces every image to anyway); 1 for other formats."""
        if self.format != "JPEG":
            return 1
        return next((k for k in (8, 4, 2) if max(self.width, self.height) >= k * WORK_SIDE), 1)

    @property
    def decoded_bytes(self):
        """An upper bound of the decoded image's size in memory."""
        k = self.shrink
        pixels = -(-self.width // k) * -(-self.height // k)
        if self.mode in GRAY_BYTES:
            return pixels * GRAY_BYTES[self.mode]
        return pixels * (3 if self.format == "JPEG" else COLOUR_BYTES * (1 + self.sixteen_bit))

    @property
    def flags(self):
        """OpenCV's decode flags: as stored, or reduced (and, like as stored, not rotated by EXIF)."""
        if self.shrink == 1:
            return cv2.IMREAD_UNCHANGED
        reduced = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
        return reduced[self.shrink] | cv2.IMREAD_IGNORE_ORIENTATION


    @property
    def cost(self):
        """What decoding and preprocessing it costs, in decoded bytes: a 28x28 gray image
        needs almost nothing; any other at least PREPROCESS_COST (about 0.7 ms of to_mnist)."""
        if (self.width, self.height) == (28, 28) and self.mode == "L":
            return self.decoded_bytes
        return max(self.decoded_bytes, PREPROCESS_COST)


class DecodeBudget:
    """What one request's images may cost together (Header.cost: decoded bytes, with a
    floor per image that needs preprocessing), so that memory and time are both bounded;
    each image is charged from its header, before it is decoded."""

    def __init__(self, limit):
        self.limit, self.left = limit, limit

    def charge(self, header):
        if header.cost > self.left:
            raise ImageTooLarge(f"{header.width}x{header.height} image would take this request past its budget of "
                                f"{self.limit // 2**20} MB of decoded images (or {self.limit // PREPROCESS_COST} images "
                                f"to preprocess); send fewer or smaller images per request")
        self.left -= header.cost


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
    """Decode `path` as stored (8/16-bit or float, gray/BGR/BGRA); raise ImageReadError if
    unusable. JPEGs go through `decode_image` (read reduced when large); other files through
    OpenCV's imread (fastest for folders of small PNGs; it refuses images above the pixel limit)."""
    if Path(path).suffix.lower() in JPEG_SUFFIXES:
        return decode_bytes(path)
    try:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # releases the GIL
    except cv2.error:  # OpenCV refuses images above OPENCV_IO_MAX_IMAGE_PIXELS this way
        image = None
    if image is None:  # a bad file, or a path imread cannot open: decode from bytes to tell
        return decode_bytes(path)
    return checked(image)


def checked(image):
    """`image`, unless it is above our pixel limit (OPENCV_IO_MAX_IMAGE_PIXELS set higher)
    or a float image with NaN or infinite values."""
    if image.shape[0] * image.shape[1] > MAX_IMAGE_PIXELS:
        raise ImageTooLarge(too_large(image.shape[1], image.shape[0]))
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ImageReadError("image holds NaN or infinite values")
    return image


def decode_bytes(path):
    """Decode the bytes of `path`, or say why that fails."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ImageReadError("file not found") from exc
    except OSError as exc:
        raise ImageReadError(f"cannot read file ({exc.strerror})") from exc
    return decode_image(data)


def read_header(data):
    """The Header of image bytes, or None when Pillow does not know the format;
    ImageReadError for a header it knows but cannot read."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # our own limit applies, with a clearer message
    try:
        with Image.open(io.BytesIO(data)) as opened:
            raw_mode = opened.tile[0].args if opened.tile else ""
            raw_mode = raw_mode[0] if isinstance(raw_mode, tuple) else raw_mode
            return Header(opened.format, *opened.size, opened.mode, ";16" in str(raw_mode))
    except UnidentifiedImageError:
        return None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageReadError(f"cannot decode image ({exc})") from None


def decode_image(data, budget=None):
    """Decode image bytes as stored (large JPEGs reduced); ImageReadError (or a subclass)
    says why not. The header is checked first: images above the pixel limit, or beyond
    `budget` (a DecodeBudget), are refused before any pixel is decoded. With a budget,
    only images whose header Pillow reads are decoded; without, OpenCV tries the rest."""
    if not data:
        raise ImageReadError("empty file")
    try:
        header, unreadable = read_header(data), None
    except ImageReadError as exc:
        if budget is not None:
            raise
        header, unreadable = None, exc
    if header is None and budget is not None:
        raise NotAnImage("not an image file (or not a format this server decodes: PNG, JPEG, WebP, BMP, TIFF, PNM)")
    if header is not None:
        if header.width * header.height > MAX_IMAGE_PIXELS:
            raise ImageTooLarge(too_large(header.width, header.height))
        if budget is not None:
            budget.charge(header)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), header.flags if header else cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        if unreadable is not None:
            raise unreadable
        raise NotAnImage("not an image file") if header is None else ImageReadError(
            "cannot decode image (truncated or corrupt)")
    return checked(image)


def too_large(width, height):
    return f"image is {width}x{height}, above the {MAX_IMAGE_PIXELS // 1_000_000} Mpx limit; scale it down first"
