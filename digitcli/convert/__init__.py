"""`digitcli convert`: the trained model as files for other runtimes, each checked against the original.

- writers.py: the Keras model as ONNX (fp32, fp16, int8), LiteRT (.tflite) and SavedModel.
- runtimes.py: each file run by its own runtime (onnxruntime, ai-edge-litert, TensorFlow).
- checks.py: a copy against the Keras model on validation images, and each format's tolerance.
- run.py: the command: write, check, and only then give each file its final name.

Every file takes `images` float32 [N, 28, 28, 1] in MNIST form (0..1, light ink on black,
the digit's box 20x20 centred by mass in 28x28: what `digitcli.preprocess.to_mnist` makes)
and answers `probabilities` float32 [N, classes], the network's softmax; calibrated
confidences are softmax(log(p) / temperature). Class names and temperature are stored in
the file where the format has room for them (ONNX metadata properties) and in FILE.json.
"""

INPUT, OUTPUT = "images", "probabilities"
