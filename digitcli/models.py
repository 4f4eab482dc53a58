"""The model line-up: one small function per model, with its training defaults beside it.

Every model takes (28, 28, 1) float32 images in 0..1 and ends in a softmax over the
classes. Adding a model is adding one decorated function.
"""

from dataclasses import dataclass

from digitcli.backend import import_keras

INPUT_SHAPE = (28, 28, 1)


@dataclass(frozen=True)
class Recipe:
    """How to build a model and the defaults it trains best with."""

    name: str
    build: object  # callable(num_classes) -> keras.Model
    summary: str
    epochs: int
    learning_rate: float
    augment: bool
    label_smoothing: float = 0.0
    outliers: bool = True  # train with generated outliers (`digitcli.outliers`) by default


MODELS = {}


def recipe(name, summary, epochs, learning_rate, augment, label_smoothing=0.0, outliers=True):
    def register(build):
        MODELS[name] = Recipe(name, build, summary, epochs, learning_rate, augment, label_smoothing, outliers)
        return build

    return register


def get_recipe(name):
    from digitcli.errors import DigitcliError

    if name not in MODELS:
        raise DigitcliError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name, num_classes):
    """A fresh, uncompiled model `name` with `num_classes` outputs."""
    keras = import_keras()
    layers = keras.layers
    body = get_recipe(name).build(layers, num_classes)
    return keras.Sequential([keras.Input(INPUT_SHAPE), *body], name=name)


@recipe("cnn", "custom CNN: conv 16x5x5, pool, conv 32x5x5, pool, dense 1000", 12, 5e-3, True, label_smoothing=0.1)
def cnn(layers, num_classes):
    return [
        layers.Conv2D(16, 5, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(32, 5, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(1000, activation="relu"),
        layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ]


# No outliers by default: one linear layer cannot both tell the classes apart and answer
# "none of them" off them (with outliers 89.9% on MNIST, without 92.3%; BENCHMARKS.md).
@recipe("linear", "one dense softmax layer on the 784 pixels", 10, 1e-3, False, outliers=False)
def linear(layers, num_classes):
    # Zero weights to start, as in the classic softmax-regression tutorial: the problem is
    # convex, so nothing is lost, and pixels that are blank in every training image keep
    # weight 0, so that each class's weights look like that class (`digitcli explain`).
    return [layers.Flatten(),
            layers.Dense(num_classes, activation="softmax", dtype="float32", kernel_initializer="zeros")]


@recipe("mlp", "two hidden dense layers of 256 ReLU", 10, 1e-3, False)
def mlp(layers, num_classes):
    return [
        layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu"),
        layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ]


@recipe("dense784", "one hidden dense layer of 784 ReLU", 10, 1e-3, False)
def dense784(layers, num_classes):
    return [
        layers.Flatten(), layers.Dense(784, activation="relu"),
        layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ]


@recipe("lstm", "LSTM of 128 units reading the image row by row", 10, 2e-3, True)
def lstm(layers, num_classes):
    return [
        layers.Reshape((28, 28)), layers.LSTM(128),
        layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ]


@recipe("alexnet", "AlexNet-style: 5 conv layers, 3 max-pools, two dense 1024 with dropout", 6, 1e-3, True)
def alexnet(layers, num_classes):
    return [
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(96, 3, padding="same", activation="relu"),
        layers.Conv2D(96, 3, padding="same", activation="relu"),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(1024, activation="relu"), layers.Dropout(0.5),
        layers.Dense(1024, activation="relu"), layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax", dtype="float32"),
    ]
