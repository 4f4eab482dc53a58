"""The web API the tutorials write, as the baseline for `bench/bench_serve.py`: Flask's
threaded development server, the Keras model loaded once, each request decoded with
OpenCV, resized to 28x28 and passed to `model.predict`.

    python bench/flask_baseline.py WEIGHTS.h5 PORT
"""

import sys

import cv2
import keras
import numpy as np
from flask import Flask, jsonify, request

model = keras.models.load_model(sys.argv[1], compile=False)
app = Flask(__name__)


@app.post("/predict")
def predict():
    image = cv2.imdecode(np.frombuffer(request.get_data(), np.uint8), cv2.IMREAD_GRAYSCALE)
    x = cv2.resize(image, (28, 28)).astype("float32") / 255.0
    p = model.predict(x[None, :, :, None], verbose=0)[0]
    return jsonify({"class": int(p.argmax()), "confidence": float(p.max())})


@app.get("/ready")
def ready():
    return "ok"


if __name__ == "__main__":
    app.run("127.0.0.1", int(sys.argv[2]), threaded=True)
