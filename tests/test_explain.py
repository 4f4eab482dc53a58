"""`digitcli explain` and the look inside behind it: activations read from the ONNX export
equal Keras's, the saliency maps equal TensorFlow's gradients and fail for a network with
random weights, and the pictures are written for every model of the line-up."""

import json

import cv2
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import run_cli
from digitcli import artifacts
from digitcli.explain import picture, saliency
from digitcli.explain.explanation import explain_image, open_network
from digitcli.explain.network import Network
from digitcli.inference import Classifier
from digitcli.models import MODELS, build_model

# Rows of the picture under the answer, per model: first-layer weights, then each layer.
ROWS = {"cnn": 4, "linear": 1, "mlp": 2, "dense784": 1, "lstm": 1, "alexnet": 8}


def weights_of(name, folder, seed=0, class_names=tuple("0123456789")):
    """NAME.h5 and its ONNX export for an untrained model `name` (random weights, seeded)."""
    import keras

    keras.utils.set_random_seed(seed)
    files = artifacts.ModelFiles(folder / f"{name}.h5")
    artifacts.save_model_h5(build_model(name, len(class_names)), files.h5,
                            {"model": name, "class_names": list(class_names), "unknown_below": 0.9})
    artifacts.export_onnx(files)
    return files.h5


@pytest.fixture(scope="module")
def lineup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lineup")
    return {name: weights_of(name, folder) for name in MODELS}


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist["x_test"][:6]


def keras_layer_outputs(model, x):
    """{kind: [outputs in order]} of the Keras layers a Network shows: conv and dense ReLUs, LSTMs."""
    import keras

    wanted = [layer for layer in model.layers[:-1]
              if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.LSTM))]
    if not wanted:
        return []
    probe = keras.Model(model.inputs[0], [layer.output for layer in wanted])
    outputs = probe(x)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [(layer.__class__.__name__, np.asarray(out)) for layer, out in zip(wanted, outputs)]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_activations_from_onnx_equal_the_keras_models(name, lineup, digits):
    model, _ = artifacts.load_keras_model(lineup[name])
    x = (digits / 255.0).astype(np.float32)[..., None]
    network = Network(artifacts.ModelFiles(lineup[name]).onnx.read_bytes())
    logits, activations = network.run(x)
    expected = keras_layer_outputs(model, x)
    assert [layer.kind for layer in network.layers] == [{"Conv2D": "conv", "Dense": "dense", "LSTM": "lstm"}[k]
                                                        for k, _ in expected]
    for layer, (kind, want) in zip(network.layers, expected):
        got = activations[layer.name]
        if kind == "Conv2D":
            got = got.transpose(0, 2, 3, 1)  # ONNX's channels first
        elif kind == "LSTM":
            assert got.shape == (len(x), 28, want.shape[-1])
            got = got[:, -1]  # Keras gives the state after the last row
        np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(softmax(logits), model.predict(x, verbose=0), atol=1e-5)


def softmax(z):
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def tf_gradients(model, x, class_index):
    """TensorFlow's d logit / d input and HiResCAM (activation x gradient summed over channels
    at the last convolution), for the reference."""
    import keras
    import tensorflow as tf

    convs = [i for i, layer in enumerate(model.layers) if isinstance(layer, keras.layers.Conv2D)]
    head = model.layers[-1]
    x = tf.constant(x[None])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y, maps = x, None
        for i, layer in enumerate(model.layers[:-1]):
            y = layer(y)
            if i == convs[-1]:
                maps = y
        logit = (tf.matmul(y, head.kernel) + head.bias)[0, class_index]
    grad_x = tape.gradient(logit, x).numpy()[0, ..., 0]
    cam = np.maximum((tape.gradient(logit, maps) * maps).numpy()[0].sum(-1), 0)
    return grad_x, cam


def test_saliency_through_onnx_equals_tensorflows_gradients(trained, digits):
    _, weights = trained
    model, _ = artifacts.load_keras_model(weights)
    network = open_network(Classifier(weights))
    rng = np.random.default_rng(0)
    for image in digits[:3]:
        # a little noise breaks the ties between equal neighbours in max-pools, where the
        # gradient is not defined (TensorFlow picks one neighbour, a forward difference another)
        x = np.clip(image / 255.0 + rng.uniform(0, 0.05, image.shape), 0, 1).astype(np.float32)[..., None]
        logits, activations = network.run(x[None])
        c = int(logits[0].argmax())
        want_grad, want_cam = tf_gradients(model, x, c)
        got_grad = saliency.input_gradients(network, x)[c]
        assert np.corrcoef(got_grad.ravel(), want_grad.ravel())[0, 1] > 0.98
        got_cam = saliency.cell_map(network, activations[network.last_conv.name][0], c)
        np.testing.assert_allclose(got_cam, want_cam, atol=1e-2 * want_cam.max())  # float32 differences
    scale, offset = network.last_conv_grid  # the CNN's 8x8 cells sit on input pixels 6.5, 8.5, ... 20.5
    assert (scale, offset) == (4.0 / 2, 6.5)


def randomised(onnx_bytes, seed=0):
    """The same graph with every weight tensor redrawn from a normal of its own spread."""
    model = onnx.load_from_string(onnx_bytes)
    rng = np.random.default_rng(seed)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.size > 1:
            init.CopyFrom(numpy_helper.from_array(rng.normal(0, w.std() + 1e-3, w.shape).astype(np.float32), init.name))
    return model.SerializeToString()


def rank_correlation(a, b):
    ra, rb = np.argsort(np.argsort(a.ravel())), np.argsort(np.argsort(b.ravel()))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_saliency_passes_the_randomised_weights_sanity_check(trained, digits):
    """Adebayo et al. (2018): a saliency method that shows the same map for a network with
    random weights explains the image, not the network. Ours must differ clearly."""
    _, weights = trained
    classifier = Classifier(weights)
    export = classifier.export_bytes()
    real, fake = Network(export), Network(randomised(export))
    grads, cams = [], []
    for image in digits:
        x = (image / 255.0).astype(np.float32)[..., None]
        c = int(real.logits(x[None])[0].argmax())
        grads.append(rank_correlation(np.abs(saliency.input_gradients(real, x)[c]),
                                      np.abs(saliency.input_gradients(fake, x)[c])))
        # on the cells HiResCAM computes (placed on 28x28 both share an empty border outside the cells)
        cams.append(rank_correlation(*(saliency.cell_map(net, net.run(x[None])[1][net.last_conv.name][0], c)
                                       for net in (real, fake))))
    assert np.mean(grads) < 0.5 and np.mean(cams) < 0.5, (grads, cams)
    # and the trained network's evidence is where the digit is: most of HiResCAM lies on ink or beside it
    x = (digits[0] / 255.0).astype(np.float32)[..., None]
    heat = saliency.where_it_looked(real, x, int(real.logits(x[None])[0].argmax()))
    near_ink = cv2.dilate((digits[0] > 50).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert heat[near_ink].sum() > 0.7 * heat.sum()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_gets_its_picture(name, lineup, digits):
    classifier = Classifier(lineup[name])
    network = open_network(classifier)
    ex = explain_image(network, classifier, digits[1])
    assert len(picture.layer_rows(ex)) == ROWS[name]
    if name == "linear":
        assert network.first_kind == "templates" and network.first_weights.shape == (10, 28, 28)
    if name in ("cnn", "alexnet"):
        assert network.first_kind == "filters" and ex.cam is not None
    if name == "lstm":
        assert ex.activations["lstm"].shape == (28, 128)


def test_explain_command_writes_a_picture_and_numbers(trained, digits, tmp_path):
    _, weights = trained
    paths = []
    for i, image in enumerate(digits[:2]):
        paths.append(tmp_path / f"digit{i}.png")
        cv2.imwrite(str(paths[-1]), 255 - cv2.resize(image, (140, 140)))  # dark ink on paper, larger
    (tmp_path / "blank.png").write_bytes(cv2.imencode(".png", np.full((50, 50), 255, np.uint8))[1].tobytes())
    out = run_cli("explain", *paths, tmp_path / "blank.png", "--weights", weights, "--out", tmp_path / "out", "--json")
    assert out.returncode == 1  # the blank image is an error, the others are explained
    assert "blank.png: no ink found" in out.stderr and "Traceback" not in out.stderr
    for i, path in enumerate(paths):
        png = cv2.imread(str(tmp_path / "out" / f"digit{i}.explain.png"))
        assert png.shape[1] >= 1400 and png.shape[0] >= 700
        assert png.std() > 30  # not blank
        numbers = json.loads((tmp_path / "out" / f"digit{i}.explain.json").read_text())
        assert [layer["name"] for layer in numbers["layers"]] == ["conv 1", "conv 2", "dense 1"]
        assert len(numbers["layers"][0]["max"]) == 16 and len(numbers["layers"][1]["max"]) == 32
        assert np.array(numbers["saliency"]["hires_cam"]).shape == (28, 28)
        assert abs(sum(numbers["probabilities"].values()) - 1) < 1e-3
        said = (f"does not look like a digit (closest: {numbers['class']}, " if numbers["unknown"]
                else f"{numbers['class']} (")
        assert f"{path}: {said}" in out.stdout and f"-> {tmp_path / 'out' / f'digit{i}.explain.png'}" in out.stdout
    assert not (tmp_path / "out" / "blank.explain.png").exists()
    again = run_cli("explain", tmp_path, "--weights", weights, "--out", tmp_path / "out")  # the folder, outputs in it
    assert again.returncode == 1 and again.stdout.count(" -> ") == 2  # the two digits; the pictures are not inputs
    assert not list((tmp_path / "out").glob("*.explain.explain.png"))


def test_explain_errors_are_one_line(tmp_path):
    out = run_cli("explain", tmp_path / "none.png", "--weights", tmp_path / "model.h5")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0  # one line


def test_a_model_of_other_classes_is_explained_in_its_own_terms(digits, tmp_path):
    weights = weights_of("cnn", tmp_path, class_names=("circle", "cross", "star"))
    classifier = Classifier(weights)
    ex = explain_image(open_network(classifier), classifier, digits[0])
    assert ex.gradients.shape == (3, 28, 28) and ex.probabilities.shape == (3,)
    assert ex.unknown  # an untrained model is far from sure: below its (high) threshold
    assert ex.verdict().startswith(f"does not look like any of the classes (closest: {ex.class_names[ex.answer]}, ")
    picture.draw(ex, tmp_path / "x.png")
    assert "star" in json.dumps(ex.as_json()["probabilities"])
