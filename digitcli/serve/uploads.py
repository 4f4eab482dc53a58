"""Request bodies and images in, JSON errors out.

Bodies are read with a size limit that also holds for chunked uploads (the client's
Content-Length is checked first, then every chunk as it arrives), and with a time limit,
so a slow or abandoned client costs one idle connection and nothing more.
"""

import asyncio

import numpy as np
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from digitcli.images import ImageReadError, ImageTooLarge, NotAnImage, decode_image
from digitcli.preprocess import NoInkError, to_mnist

BODY_SECONDS = 30  # a whole upload must arrive within this


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
    if declared is not None and declared.isdigit() and int(declared) > limit:
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


async def multipart_files(headers, body):
    """[(filename, bytes)] of the file parts of a multipart/form-data body, in order."""

    async def once():
        yield body

    try:
        form = await MultiPartParser(headers, once(), max_files=10_000).parse()
    except MultiPartException as exc:
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    files = []
    for _, value in form.multi_items():
        if isinstance(value, UploadFile):
            files.append((value.filename or "", await value.read()))
            await value.close()
    if not files:
        raise ApiError(400, "multipart body holds no files (send images as file parts)")
    return files


def status_of(exc):
    """The HTTP status for an image that cannot be predicted."""
    if isinstance(exc, ImageTooLarge):
        return 413
    if isinstance(exc, NotAnImage):
        return 415
    return 422  # empty, truncated, corrupt, no ink


def to_inputs(uploads):
    """MNIST-form images of the uploads that can be used: ((N, 28, 28) uint8, {index: error})."""
    images, failures = [], {}
    for i, (_, data) in enumerate(uploads):
        try:
            images.append(to_mnist(decode_image(data)))
        except (ImageReadError, NoInkError) as exc:
            failures[i] = exc
    return (np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)), failures
