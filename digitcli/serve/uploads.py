"""Request bodies and images in, JSON errors out.

Bodies are read with a size limit that also holds for chunked uploads (the client's
Content-Length is checked first, then every chunk as it arrives), and with a time limit,
so a slow or abandoned client costs one idle connection and nothing more. Images are
decoded with one DecodeBudget per request, and a failed image leaves only its message
behind (an exception kept with its traceback would keep the decoded pixels alive).
"""

import asyncio
from dataclasses import dataclass

import numpy as np
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import create_form_parser
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from digitcli.images import DecodeBudget, ImageReadError, ImageTooLarge, NotAnImage, decode_image, read_header
from digitcli.preprocess import NoInkError, to_mnist
from digitcli.serve.offload import INLINE_BYTES, INLINE_PIXELS

BODY_SECONDS = 30  # a whole upload must arrive within this
MAX_FILES = 10_000  # file parts in one multipart body
DECODE_BUDGET_BYTES = 128 * 2**20  # decoded pixels of all of one request's images together (decoders may need twice that)


class ApiError(Exception):
    """An error answered as {"error": message} with `status`."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def error_response(status, message, headers=None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_body(request, limit):
    """The request body, or ApiError 413 as soon as it exceeds `limit` bytes (408 if too slow)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body of {int(declared)} bytes is over the {limit}-byte limit (--max-upload-mb)")
    try:
        return await asyncio.wait_for(collect(request, limit), BODY_SECONDS)
    except asyncio.TimeoutError:
        raise ApiError(408, f"body not received within {BODY_SECONDS} s") from None
    except ClientDisconnect:
        raise ApiError(400, "client disconnected before sending the whole body") from None


async def collect(request, limit):
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body is over the {limit}-byte limit (--max-upload-mb)")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(content_type):
    """'multipart/form-data' of 'multipart/form-data; boundary=x' (lower case)."""
    return content_type.split(";")[0].strip().lower()


def uploads_of(content_type, body, filename="body"):
    """[(filename, bytes)] of a /predict body: the image itself, or the file parts of a
    multipart/form-data body, in order; ApiError for any other kind of body."""
    kind = media_type(content_type)
    if kind == "multipart/form-data":
        return multipart_files(content_type, body)
    if kind.startswith("image/") or kind == "application/octet-stream":
        return [(filename, body)]
    raise ApiError(415, f"send an image (Content-Type image/* or application/octet-stream) "
                        f"or multipart/form-data, not {kind}")


def multipart_files(content_type, body):
    """[(filename, bytes)] of the file parts of a multipart/form-data body (python-multipart)."""
    files = []

    def on_file(part):
        if len(files) >= MAX_FILES:
            raise ApiError(413, f"multipart body holds more than {MAX_FILES} files")
        name = (part.file_name or b"").decode("utf-8", "replace")
        files.append((name, part.file_object.getvalue()))

    try:
        parser = create_form_parser({"Content-Type": content_type.encode("latin-1", "replace")}, None, on_file,
                                    config={"MAX_MEMORY_FILE_SIZE": float("inf")})
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as exc:
        raise ApiError(400, f"malformed multipart body: {exc or exc.__class__.__name__}") from None
    if not files:
        raise ApiError(400, "multipart body holds no files (send images as file parts)")
    return files


def is_cheap(content_type, body):
    """True when a body is one small image (or fails fast): fit to handle on the event loop."""
    if len(body) > INLINE_BYTES or media_type(content_type) == "multipart/form-data":
        return False
    try:
        header = read_header(body)
    except ImageReadError:
        return True
    return header is not None and header.width * header.height <= INLINE_PIXELS


def status_of(exc):
    """The HTTP status for an image that cannot be predicted."""
    if isinstance(exc, ImageTooLarge):
        return 413
    if isinstance(exc, NotAnImage):
        return 415
    return 422  # empty, truncated, corrupt, NaN, no ink


@dataclass
class Inputs:
    """The uploads of one request in MNIST form, with the failures in their places."""

    names: list  # every upload's file name, in order
    images: np.ndarray  # (N, 28, 28) uint8 of the uploads that could be used
    failures: dict  # {index: (HTTP status, message)}


def to_inputs(uploads):
    """Decode and preprocess `uploads` within one DecodeBudget."""
    budget, images, failures = DecodeBudget(DECODE_BUDGET_BYTES), [], {}
    for i, (_, data) in enumerate(uploads):
        try:
            images.append(to_mnist(decode_image(data, budget)))
        except (ImageReadError, NoInkError) as exc:
            failures[i] = (status_of(exc), str(exc))
    stacked = np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)
    return Inputs([name for name, _ in uploads], stacked, failures)


def prepare(content_type, body, filename):
    """Inputs of a /predict body: what runs off the event loop for heavy requests."""
    return to_inputs(uploads_of(content_type, body, filename))
