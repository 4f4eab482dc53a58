"""Look inside a trained network: what each layer makes of an image, and why it answered.

- `network`: the layers, logits and first-layer weights, read from the ONNX export;
- `saliency`: input gradients and a class activation map (HiResCAM) through that same graph;
- `explanation`: everything about one image, and its numbers as JSON;
- `picture`: the one PNG a person reads.
"""

from pathlib import Path

SHOWN_SIDE = 512  # the image as given is shown reduced to this many pixels on its longer side
SUFFIX = ".explain"  # STEM.explain.png and STEM.explain.json


def explain_paths(paths, weights, out_dir, with_json=False):
    """For each image under `paths`, in order: (path, Explanation or None, files written, error
    or None). Pictures (and JSON) go to `out_dir` as STEM.explain.png (.json), never over an input."""
    from digitcli.artifacts import write_json
    from digitcli.explain.explanation import explain_image, open_network
    from digitcli.explain.picture import draw
    from digitcli.images import ImageReadError, read_image
    from digitcli.inference import open_classifier
    from digitcli.predict import Prediction, expand_paths
    from digitcli.preprocess import NoInkError, at_most, to_gray, to_mnist

    given = {str(p) for p in paths}  # found in a folder, earlier pictures of this command are not inputs
    items = [item for item in expand_paths(paths)
             if isinstance(item, Prediction) or item in given or not item.endswith(SUFFIX + ".png")]
    classifier = open_classifier(weights)
    network = open_network(classifier)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    taken = set()
    for item in items:
        if isinstance(item, Prediction):
            yield item.path, None, [], item.error
            continue
        try:
            image = read_image(item)
            seen = to_mnist(image)
        except (ImageReadError, NoInkError) as exc:
            yield item, None, [], str(exc)
            continue
        ex = explain_image(network, classifier, seen, to_gray(at_most(image, SHOWN_SIDE)), item)
        stem = unique_stem(Path(item).stem, taken)
        written = [out_dir / f"{stem}{SUFFIX}.png"]
        draw(ex, written[0])
        if with_json:
            written.append(out_dir / f"{stem}{SUFFIX}.json")
            write_json(written[1], ex.as_json())
        yield item, ex, written, None


def unique_stem(stem, taken):
    """`stem`, or `stem-2`, `stem-3`... when an earlier image of this run had it."""
    name, n = stem, 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}"
    taken.add(name)
    return name

