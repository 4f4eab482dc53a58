"""The folder `--to web` writes: the drawing page answering in the browser, offline after one
visit, installable on a phone's home screen. Any static host serves it.

It holds the model as ONNX, the page's own files (the same as `digitcli serve`'s; its
index.html names the model, which switches the page to answering in the browser), the
WebAssembly build of onnxruntime-web (npm, pinned in web/package-lock.json with its
checksums, installed by `make install`; copied, never fetched from a CDN), a web manifest
with icons, and a service worker that caches every file.
"""

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from digitcli.errors import DigitcliError

RUNTIME = Path(__file__).with_name("web") / "node_modules" / "onnxruntime-web" / "dist"
RUNTIME_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE = Path(__file__).parents[1] / "serve" / "static"
PAGE_FILES = ("draw.js", "local.js", "mnist.js", "style.css")
ICON_SIDES = (192, 512)


def write_web(model, folder, meta, quantize, calibration):
    """Write the web folder `folder` around the model as ONNX (quantized as asked)."""
    from digitcli.convert.writers import write_onnx

    missing = [f for f in RUNTIME_FILES if not (RUNTIME / f).is_file()]
    if missing:
        raise DigitcliError(f"--to web needs onnxruntime-web ({RUNTIME / missing[0]} is missing): run `make install`, "
                            f"which runs npm ci in {RUNTIME.parents[2]}")
    folder = Path(folder)
    (folder / "static" / "ort").mkdir(parents=True)
    model_file = f"{meta['name']}.onnx"
    write_onnx(model, folder / model_file, meta, quantize, calibration)
    (folder / f"{model_file}.json").write_text(json.dumps(meta, indent=2) + "\n")
    for name in PAGE_FILES:
        shutil.copy(PAGE / name, folder / "static" / name)
    for name in RUNTIME_FILES:
        shutil.copy(RUNTIME / name, folder / "static" / "ort" / name)
    head = (f'<meta name="digitcli-model" content="{model_file}">\n<link rel="manifest" href="manifest.webmanifest">\n'
            f'<meta name="theme-color" content="#222222">\n<link rel="icon" href="icon-192.png">\n')
    (folder / "index.html").write_text((PAGE / "index.html").read_text().replace("</head>", head + "</head>"))
    for side in ICON_SIDES:
        cv2.imwrite(str(folder / f"icon-{side}.png"), icon(side))
    (folder / "manifest.webmanifest").write_text(json.dumps({
        "name": f"Draw a digit ({meta['name']})", "short_name": "Digits", "start_url": ".", "scope": ".",
        "display": "standalone", "background_color": "#ffffff", "theme_color": "#222222",
        "icons": [{"src": f"icon-{side}.png", "sizes": f"{side}x{side}", "type": "image/png"} for side in ICON_SIDES],
    }, indent=2) + "\n")
    files = ["./"] + sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    version = hashlib.sha256((folder / model_file).read_bytes()).hexdigest()[:12]
    worker = (Path(__file__).with_name("web") / "sw.js").read_text()
    (folder / "sw.js").write_text(worker.replace("__VERSION__", version).replace("__FILES__", json.dumps(files)))


def icon(side):
    """A home-screen icon: a handwritten-looking 7 on a dark square."""
    image = np.full((side, side, 3), 34, np.uint8)
    s = side / 10
    points = np.int32([[2.5 * s, 2.8 * s], [7.5 * s, 2.8 * s], [4.2 * s, 7.8 * s]])
    cv2.polylines(image, [points], False, (255, 255, 255), max(2, int(0.9 * s)), cv2.LINE_AA)
    return image


def model_in(folder):
    """The .onnx file of a web folder."""
    found = sorted(Path(folder).glob("*.onnx"))
    if len(found) != 1:
        raise DigitcliError(f"{folder}: not a web folder from digitcli convert (no single .onnx in it)")
    return found[0]
