// The in-page answer of the drawing page (the folder `digitcli convert --to web` writes): the
// model run by onnxruntime-web (WebAssembly, one thread: no special headers needed) on what
// mnist.js makes of the drawing. Answers have the shape of POST /predict's.
import { toMnist } from "./mnist.js";

export async function localAnswerer(modelUrl) {
  const ort = await import("./ort/ort.wasm.bundle.min.mjs");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
  const [session, meta] = await Promise.all([
    ort.InferenceSession.create(modelUrl, { executionProviders: ["wasm"] }),
    fetch(modelUrl + ".json").then((r) => r.json()),
  ]);
  const name = modelUrl.split("/").pop().replace(/\.onnx$/, "");
  return async (imageData) => {
    let pixels;
    try {
      pixels = toMnist(imageData);
    } catch (error) {
      return { model: name, error: error.message, predictions: [{ error: error.message }] };
    }
    const input = new ort.Tensor("float32", Float32Array.from(pixels, (v) => v / 255), [1, 28, 28, 1]);
    const probabilities = calibrated((await session.run({ images: input })).probabilities.data, meta.temperature);
    const ranked = meta.class_names.map((c, i) => [c, probabilities[i]]).sort((a, b) => b[1] - a[1]);
    const unknown = meta.unknown_below != null && ranked[0][1] < meta.unknown_below;  // as digitcli does
    return { model: name, predictions: [{ class: ranked[0][0], confidence: ranked[0][1], unknown, top_k: ranked,
                                         input_png: asPng(pixels) }] };
  };
}

function calibrated(probabilities, temperature) {  // softmax(log(p) / temperature), as digitcli does
  const logits = Array.from(probabilities, (p) => Math.log(Math.max(p, 1e-30)) / temperature);
  const top = Math.max(...logits), scaled = logits.map((l) => Math.exp(l - top));
  const sum = scaled.reduce((a, b) => a + b, 0);
  return scaled.map((s) => s / sum);
}

function asPng(pixels) {  // the 28x28 image the model saw, as the server's input_png
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 28;
  const context = canvas.getContext("2d"), image = context.createImageData(28, 28);
  pixels.forEach((v, i) => { image.data.set([v, v, v, 255], 4 * i); });
  context.putImageData(image, 0, 0);
  return canvas.toDataURL("image/png");
}
