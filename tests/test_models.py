"""Every model of the line-up trains a few steps, saves, reloads and predicts."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from digitcli import artifacts
from digitcli.preprocess import to_model_input
from digitcli.cli import cli
from digitcli.folders import load_images
from digitcli.inference import Classifier
from digitcli.models import MODELS, build_model
from digitcli.training import TrainConfig, train

from conftest import run_cli


def test_models_command_lists_every_model_with_parameters():
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0
    for name in MODELS:
        assert name in result.output
    assert f"{build_model('cnn', 10).count_params():,}" in result.output


def test_cnn_is_the_specified_architecture():
    model = build_model("cnn", 10)
    kinds = [(layer.__class__.__name__, getattr(layer, "filters", None) or getattr(layer, "units", None))
             for layer in model.layers]
    assert kinds == [("Conv2D", 16), ("MaxPooling2D", None), ("Conv2D", 32), ("MaxPooling2D", None),
                     ("Flatten", None), ("Dense", 1000), ("Dense", 10)]
    assert model.layers[0].kernel_size == (5, 5) and model.layers[2].kernel_size == (5, 5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_trains_saves_reloads_and_predicts(name, digits_tree, tmp_path):
    weights = tmp_path / f"{name}.h5"
    result = train(TrainConfig(data_dir=str(digits_tree), epochs=1, batch_size=64, weights=str(weights), model=name),
                   say=lambda line: None)
    assert result.best_val_accuracy > 0.2  # one short epoch; chance is 0.1
    assert artifacts.read_h5_meta(weights)["model"] == name
    model, meta = artifacts.load_keras_model(weights)
    assert model.name == name and len(meta["class_names"]) == 10
    folder = digits_tree / "validation" / "0"
    out = run_cli("predict", "--json", "--weights", weights, folder)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len(list(folder.iterdir()))
    # the fast path agrees with Keras itself
    images, _ = load_images(sorted(folder.iterdir())[:20])
    keras_p = np.asarray(model.predict(to_model_input(images), verbose=0))
    np.testing.assert_allclose(Classifier(weights).raw_predict(to_model_input(images)), keras_p, atol=1e-4)
