"""Which pixels drove the answer, computed through the exported graph itself.

Gradients come from forward differences: the logits of a network of ReLUs, max-pools,
dense layers (and, smoothly, an LSTM's gates) change linearly with a small enough change
of its input, so one extra run with one pixel raised by EPSILON gives d logit / d pixel
for every class at once; all pixels go in one batch (tests check the result against
TensorFlow's own gradients).

- `input_gradients`: d logit / d pixel, every class: the fine map. "What would make it a 7"
  is the gradient of logit 7 minus the answer's: where added ink pushes toward a 7.
- `class_activation_map`: HiResCAM (Draelos and Carin, 2020), Grad-CAM (Selvaraju et al.,
  2017) without its averaging: per cell of the last convolution, activation x gradient of
  the class's logit summed over channels. Grad-CAM's per-channel mean gradient assumes a
  global-average-pooled head; behind a flatten and dense layers, as here, it came out
  mostly negative (measured: 3-67% of cells positive, median 13%, on 8 MNIST test digits).
  Sum over channels of activation x gradient is the derivative along the cell's own
  activations: one run per cell.
"""

import cv2
import numpy as np

from digitcli.explain.network import SIDE

EPSILON = 1e-3  # in input units (0..1) and activation units


def input_gradients(network, x):
    """(28, 28, 1) float32 image -> (classes, 28, 28): d logit / d pixel."""
    pixels = x.size
    batch = np.repeat(x.reshape(1, pixels), pixels + 1, axis=0)
    batch[1 + np.arange(pixels), np.arange(pixels)] += EPSILON
    logits = network.logits(batch.reshape(-1, *x.shape))
    return ((logits[1:] - logits[0]) / EPSILON).T.reshape(-1, *x.shape[:2])


def class_activation_map(network, maps, class_index):
    """HiResCAM (28, 28) of a class from the last convolution's output for one image (C, h, w):
    `cell_map`, each cell placed on the input pixel its receptive field is centred on."""
    return on_input(network, cell_map(network, maps, class_index))


def cell_map(network, maps, class_index):
    """Per cell of the last convolution's maps (C, h, w): the sum over channels of activation x
    gradient of the class's logit, kept where positive; (h, w) in logit units."""
    channels, h, w = maps.shape
    cells = h * w
    batch = np.repeat(maps.reshape(1, channels, cells), cells + 1, axis=0)
    batch[1 + np.arange(cells), :, np.arange(cells)] *= 1 + EPSILON  # cell m's channels along themselves
    logits = network.tail_logits(batch.reshape(-1, channels, h, w))
    return np.maximum((logits[1:, class_index] - logits[0, class_index]) / EPSILON, 0).reshape(h, w)


def on_input(network, cells):
    """A map over the last convolution's cells, brought to 28x28: each cell on the input pixel
    its receptive field is centred on (not stretched over the whole image)."""
    scale, offset = network.last_conv_grid
    to_cells = np.float32([[1 / scale, 0, -offset / scale], [0, 1 / scale, -offset / scale]])
    return cv2.warpAffine(cells.astype(np.float32), to_cells, (SIDE, SIDE),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)


def where_it_looked(network, x, class_index, maps=None):
    """A 0..1 map (28, 28) of where the evidence for a class lies: Grad-CAM for networks with
    convolutions (HiResCAM; `maps`: the last one's output, else computed), else the input
    gradient's size, smoothed."""
    if network.last_conv is not None:
        if maps is None:
            maps = network.run(x[None])[1][network.last_conv.name][0]
        heat = class_activation_map(network, maps, class_index)
    else:
        heat = cv2.GaussianBlur(np.abs(input_gradients(network, x)[class_index]), (5, 5), 1.0)
    top = heat.max()
    return heat / top if top > 0 else heat
