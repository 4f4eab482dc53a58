"""digitcli: train and use handwritten-digit classifiers over folders of images."""

__version__ = "0.1.0"

import os as _os

# Images above this many pixels are refused before they are decoded. OpenCV reads the limit
# once, when it loads, so it is set here, before any module of ours imports cv2.
MAX_IMAGE_PIXELS = 50_000_000
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
