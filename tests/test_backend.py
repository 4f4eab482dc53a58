"""Keras imported on demand: without the packages it would import and digitcli never uses."""

import subprocess
import sys

CHECK = """
import sys
from digitcli.backend import UNUSED_BY_KERAS, UNUSED_BY_TENSORFLOW, import_keras
keras = import_keras()
assert keras.backend.backend() == "tensorflow"
loaded = [name for name in UNUSED_BY_KERAS + UNUSED_BY_TENSORFLOW if name in sys.modules]
assert not loaded, loaded
import jax, matplotlib.pyplot, sklearn  # importable as ever once Keras is loaded
print("ok")
"""


def test_keras_loads_without_the_packages_it_would_not_need(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KERAS_HOME": str(tmp_path)})
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_backend_chosen_in_keras_json_is_not_hidden(tmp_path):
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    code = "from digitcli.backend import import_keras; print(import_keras().backend.backend())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KERAS_HOME": str(tmp_path)})
    assert done.stdout.strip() == "jax", done.stderr[-2000:]
