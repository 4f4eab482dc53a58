// For the tests: each PNG named on the command line through mnist.js's toMnist, one JSON
// line each: its 784 pixels, or {"error": message}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { toMnist } from "../../digitcli/serve/static/mnist.js";

const { PNG } = createRequire(new URL("../../examples/node/package.json", import.meta.url))("pngjs");
for (const path of process.argv.slice(2)) {
  try {
    console.log(JSON.stringify(Array.from(toMnist(PNG.sync.read(readFileSync(path))))));
  } catch (error) {
    console.log(JSON.stringify({ error: error.message }));
  }
}
