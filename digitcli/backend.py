"""Import Keras (and its backend) only when a command needs it, without start-up noise."""

import contextlib
import logging
import os
import sys
import tempfile


@contextlib.contextmanager
def quiet_stderr():
    """Hide what C++ libraries print to file descriptor 2; replay it if an error escapes."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_keras():
    """Return the `keras` module with its backend loaded, TensorFlow's logs silenced."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("absl").setLevel(logging.ERROR)
    with quiet_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
    return keras


def device_description():
    """Name the device training will run on, for the user to see."""
    keras = import_keras()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        device = f"GPU ({gpus[0].name})" if gpus else "CPU"
    elif backend == "jax":
        import jax

        first = jax.devices()[0]
        device = f"{first.platform.upper()} ({first.device_kind})"
    elif backend == "torch":
        import torch

        device = f"GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
    else:
        device = "default device"
    return f"{device}, Keras backend {backend}"


def exit_now(status=0):
    """End the process at once, output flushed, skipping Python's exit (and TensorFlow's
    teardown in it). Only once everything is written and closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
