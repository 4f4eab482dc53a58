"""Import Keras (and its backend) only when a command needs it, without start-up noise."""

import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

# What importing Keras imports too when it is installed, and digitcli never uses through it
# (Keras's image gallery and scikit-learn wrappers; TensorFlow Lite's JAX converter): 1.7 s
# of TensorFlow's 4.4 s import on a 2-core machine. Hidden while Keras loads, importable after.
UNUSED_BY_KERAS = ("matplotlib", "sklearn")
UNUSED_BY_TENSORFLOW = ("jax",)


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
    unused = UNUSED_BY_KERAS + (UNUSED_BY_TENSORFLOW if chosen_backend() == "tensorflow" else ())
    with quiet_stderr(), hidden(unused):
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
    return keras


def chosen_backend():
    """The backend `import keras` will load: $KERAS_BACKEND, else keras.json's, else TensorFlow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    config = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "keras.json"
    try:
        return json.loads(config.read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


@contextlib.contextmanager
def hidden(packages):
    """Inside, importing any of `packages` not yet imported raises ImportError, as if it were
    not installed; after, it imports as usual."""
    hide = [name for name in packages if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hide))
    try:
        yield
    finally:
        for name in hide:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


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
