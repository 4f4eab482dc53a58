// Classify PNG images in Node.js like `digitcli predict`: the page's own preprocessing
// (digitcli/serve/static/mnist.js), a model from `digitcli convert` run by onnxruntime-node,
// class names and temperature from the FILE.json beside it.
//
//   node predict.mjs ../../mnist_neuronet.converted/mnist_neuronet.onnx 7.png [more.png ...]

import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { PNG } from "pngjs";
import { toMnist } from "../../digitcli/serve/static/mnist.js";

const [modelPath, ...images] = process.argv.slice(2);
const { class_names: classNames, temperature } = JSON.parse(readFileSync(`${modelPath}.json`, "utf8"));
const session = await ort.InferenceSession.create(modelPath);

function calibrated(probabilities) {  // softmax(log(p) / temperature)
  const logits = Array.from(probabilities, (p) => Math.log(Math.max(p, 1e-30)) / temperature);
  const top = Math.max(...logits), scaled = logits.map((l) => Math.exp(l - top));
  const sum = scaled.reduce((a, b) => a + b, 0);
  return scaled.map((s) => s / sum);
}

const width = Math.max(...images.map((p) => p.length));
let failed = false;
for (const path of images) {
  try {
    const pixels = toMnist(PNG.sync.read(readFileSync(path)));
    const input = new ort.Tensor("float32", Float32Array.from(pixels, (v) => v / 255), [1, 28, 28, 1]);
    const p = calibrated((await session.run({ images: input })).probabilities.data);
    const best = p.indexOf(Math.max(...p));
    console.log(`${path.padEnd(width)}  ${classNames[best]}  ${(100 * p[best]).toFixed(1).padStart(5)}%`);
  } catch (error) {
    console.error(`Error: ${path}: ${error.message}`);
    failed = true;
  }
}
process.exitCode = failed ? 1 : 0;
