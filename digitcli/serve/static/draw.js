// The drawing page: pointer strokes on a canvas, live answers from POST /predict (digitcli
// serve) or from the model in the page itself (the folder `digitcli convert --to web` writes,
// whose index.html names its model in <meta name="digitcli-model">).

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d", { willReadFrequently: true });  // read after every stroke: kept in memory
const brush = document.getElementById("brush");
const verdict = document.getElementById("verdict");
const bars = document.getElementById("bars");
const seen = document.getElementById("seen");
const inside = document.getElementById("inside");  // the look-inside view (served page only)
const SIZE = 280;          // CSS pixels
const WHILE_DRAWING = 150; // ms between answers during a stroke
const AFTER_STROKE = 10;   // ms from the end of a stroke to its request

// What the browser test reads: when the last stroke ended, when the request for the drawing
// as it then was started, and when its answer was shown.
const timing = { strokeEndedAt: 0, askedAt: 0, shownAt: 0, answers: 0 };
window.digitcli = timing;

let token = sessionStorage.getItem("digitcli-token");
let inked = false, drawing = false, last = null, timer = null, inFlight = false, again = false;
const modelFile = document.querySelector('meta[name="digitcli-model"]')?.content;
let local = null;  // the in-page answerer, once loaded

function setUp() {
  const scale = window.devicePixelRatio || 1;
  pad.width = pad.height = SIZE * scale;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  clear();
}

function clear() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, SIZE, SIZE);
  inked = false;
  verdict.className = "verdict";
  verdict.textContent = "Draw a digit.";
  seen.removeAttribute("src");
  document.getElementById("layers").replaceChildren();
  for (const image of inside.querySelectorAll(".looked img")) image.removeAttribute("src");
  for (const fill of bars.querySelectorAll(".fill")) fill.style.width = "0";
  for (const p of bars.querySelectorAll(".p")) p.textContent = "";
}

function point(event) {
  const box = pad.getBoundingClientRect();
  const pressure = event.pointerType === "pen" && event.pressure > 0 ? 0.6 + 0.8 * event.pressure : 1;
  return { x: (event.clientX - box.left) * SIZE / box.width, y: (event.clientY - box.top) * SIZE / box.height,
           width: brush.valueAsNumber * pressure };
}

function segment(from, to) {  // a marker: round ends, round joins, dark ink
  ctx.strokeStyle = "#111";
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = (from.width + to.width) / 2;
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  inked = true;
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = true;
  last = point(event);
  segment(last, last);
  schedule(WHILE_DRAWING);
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  event.preventDefault();
  const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const move of moves.length ? moves : [event]) {
    const next = point(move);
    segment(last, next);
    last = next;
  }
  if (!timer) schedule(WHILE_DRAWING);
});

function endStroke(event) {
  if (!drawing) return;
  drawing = false;
  timing.strokeEndedAt = performance.now();
  schedule(local ? 0 : AFTER_STROKE);  // a server's requests wait a moment to take the whole stroke
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(() => { timer = null; ask(); }, delay);
}

async function ask() {
  if (!inked) return;
  if (inFlight) { again = true; return; }  // one request at a time; the newest drawing wins
  inFlight = true;
  const askedAt = performance.now();
  if (local) {
    shown(await local(ctx.getImageData(0, 0, pad.width, pad.height)), true, askedAt);
  } else {
    await send(drawingAsPgm(), "image/x-portable-graymap", askedAt);
  }
  inFlight = false;
  if (again) { again = false; ask(); }
}

// The canvas's gray levels as a binary PGM, read at once: toBlob's PNG waits for the browser's
// idle time (about a frame, 16-20 ms after drawing), which was a third of the answer's time.
function drawingAsPgm() {
  const { data } = ctx.getImageData(0, 0, pad.width, pad.height);
  const head = new TextEncoder().encode(`P5\n${pad.width} ${pad.height}\n255\n`);
  const pgm = new Uint8Array(head.length + data.length / 4);
  pgm.set(head);
  for (let from = 0, to = head.length; from < data.length; from += 4, to++) pgm[to] = data[from];  // gray ink: R = G = B
  return new Blob([pgm]);
}

async function send(body, type, askedAt) {
  const headers = { "Content-Type": type || "application/octet-stream" };
  if (token) headers.Authorization = "Bearer " + token;
  let response;
  const looking = inside.open;  // the look-inside view asks /explain: the answer and the layers
  try {
    response = await fetch(looking ? "/explain" : "/predict?top_k=100&input=1", { method: "POST", headers, body });
  } catch (error) {
    return showError("The server cannot be reached.");
  }
  if (response.status === 401) {
    token = window.prompt("This server needs a token:");
    if (!token) return showError("A token is needed.");
    sessionStorage.setItem("digitcli-token", token);
    return send(body, type, askedAt);
  }
  let answer = await response.json().catch(() => ({ error: "unexpected answer " + response.status }));
  if (looking && response.ok) {
    showInside(answer);
    answer = { model: answer.model, predictions: [{ ...answer.prediction, input_png: answer.input_png }] };
  }
  shown(answer, response.ok, askedAt);
}

function showInside(answer) {  // where the model looked, and one picture per layer with its sentence
  document.getElementById("looked-seen").src = answer.input_png;
  document.getElementById("looked-heat").src = answer.looked.png;
  document.getElementById("looked-class").textContent = answer.prediction.class;
  document.getElementById("looked-method").textContent = answer.looked.method;
  const layers = document.getElementById("layers");
  if (layers.children.length !== answer.layers.length) {
    layers.replaceChildren(...answer.layers.map(() => {
      const section = Object.assign(document.createElement("section"), { className: "layer" });
      section.append(document.createElement("h3"), document.createElement("p"), document.createElement("img"));
      return section;
    }));
  }
  answer.layers.forEach((layer, i) => {
    const [title, about, image] = layers.children[i].children;
    title.textContent = layer.name;
    about.textContent = layer.about;
    image.alt = layer.name + " activations";
    image.src = layer.png;
  });
}

function shown(answer, ok, askedAt) {
  document.getElementById("model").textContent = answer.model || "?";
  const first = (answer.predictions || [])[0];
  if (!ok || !first || first.error) showError((first && first.error) || answer.error);
  else show(first);
  timing.askedAt = askedAt || 0;
  timing.shownAt = performance.now();
  timing.answers += 1;
}

function show(prediction) {
  const all = prediction.top_k || [[prediction.class, prediction.confidence]];
  all.sort((a, b) => a[0].localeCompare(b[0], undefined, { numeric: true }));
  if (bars.children.length !== all.length) {
    bars.innerHTML = all.map(() => '<li><span class="c"></span><span class="track"><span class="fill"></span></span>' +
                                   '<span class="p"></span></li>').join("");
  }
  all.forEach(([name, p], i) => {
    const row = bars.children[i];
    row.className = name === prediction.class ? "top" : "";
    row.querySelector(".c").textContent = name;
    row.querySelector(".fill").style.width = (100 * p).toFixed(1) + "%";
    row.querySelector(".p").textContent = (100 * p).toFixed(1) + "%";
  });
  const percent = (100 * prediction.confidence).toFixed(1);
  verdict.innerHTML = "";
  if (prediction.unknown) {  // looks like none of the model's classes: say so, name the closest
    verdict.className = "verdict unknown";
    const closest = document.createElement("small");
    closest.append(" (closest: ", Object.assign(document.createElement("b"), { textContent: prediction.class }),
                   `, ${percent}%)`);
    verdict.append("That does not look like a digit", closest);
  } else {
    verdict.className = "verdict";
    verdict.append("I think this is a ", Object.assign(document.createElement("b"), { textContent: prediction.class }),
                   ` (${percent}% confident)`);
  }
  if (prediction.input_png) seen.src = prediction.input_png;
}

function showError(message) {
  verdict.className = "verdict error";
  verdict.textContent = /no ink/.test(message || "") ? "Draw a digit." : message || "Something went wrong.";
}

async function useFile(file) {  // the file itself is sent, as `digitcli predict` would read it
  if (!file) return;
  const url = URL.createObjectURL(file);
  const image = new Image();
  const loaded = new Promise((done) => { image.onload = image.onerror = done; });
  image.src = url;
  await loaded;
  clear();
  if (image.width) {
    const fit = Math.min(SIZE / image.width, SIZE / image.height);
    ctx.drawImage(image, (SIZE - image.width * fit) / 2, (SIZE - image.height * fit) / 2,
                  image.width * fit, image.height * fit);
  }
  URL.revokeObjectURL(url);
  inked = true;
  if (local) {  // the file at its own size, as `predict` would read it
    const canvas = Object.assign(document.createElement("canvas"), { width: image.width, height: image.height });
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    return shown(await local(context.getImageData(0, 0, image.width, image.height)), true);
  }
  await send(file, file.type);
}

document.getElementById("clear").addEventListener("click", clear);
document.getElementById("file").addEventListener("change", (event) => useFile(event.target.files[0]));
pad.addEventListener("dragover", (event) => { event.preventDefault(); pad.classList.add("over"); });
pad.addEventListener("dragleave", () => pad.classList.remove("over"));
pad.addEventListener("drop", (event) => {
  event.preventDefault();
  pad.classList.remove("over");
  useFile(event.dataTransfer.files[0]);
});

setUp();
inside.addEventListener("toggle", () => { if (inside.open) ask(); });
if (modelFile) {  // the folder from `digitcli convert --to web`: answer in the page, work offline
  inside.hidden = true;  // the look inside needs the server's view of the network
  const foot = document.querySelector(".foot");
  foot.replaceChildren("Runs in your browser (onnxruntime-web): nothing is sent anywhere · model ",
                       document.getElementById("model"));
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js");
  try {
    local = await (await import("./local.js")).localAnswerer(new URL(modelFile, document.baseURI).href);
    timing.ready = true;
  } catch (error) {
    showError("The model cannot run in this browser: " + error.message);
  }
}
