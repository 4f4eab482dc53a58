"""Classify MNIST-form 28x28 images with a converted model and nothing of digitcli:
onnxruntime, numpy and Pillow only. Prints class and calibrated confidence per image.

    python predict_onnx.py mnist_neuronet.converted/mnist_neuronet.onnx 7.png [more.png ...]
"""

import json
import sys

import numpy as np
import onnxruntime
from PIL import Image

session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map  # stored in the file by `digitcli convert`
class_names, temperature = json.loads(meta["class_names"]), float(meta["temperature"])

for path in sys.argv[2:]:
    image = np.asarray(Image.open(path).convert("L"), np.float32) / 255  # light ink on black, 0..1
    probabilities = session.run(["probabilities"], {"images": image[None, :, :, None]})[0][0]
    logits = np.log(np.maximum(probabilities, 1e-30)) / temperature  # temperature scaling
    calibrated = np.exp(logits - logits.max())
    calibrated /= calibrated.sum()
    best = int(calibrated.argmax())
    print(f"{path}  {class_names[best]}  {100 * calibrated[best]:.1f}%")
