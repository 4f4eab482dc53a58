"""digitcli: train and use handwritten-digit classifiers over folders of images."""

__version__ = "0.1.0"
