// MNIST preprocessing in JavaScript: the part of digitcli.preprocess.to_mnist that drawings,
// scans and screenshots need, for the browser page and the Node example (one module, no
// dependencies). Input: {width, height, data} with RGBA bytes (a canvas's ImageData, a
// decoded PNG); output: 784 bytes, light ink on black, the digit's box scaled to 20x20 and
// centred by mass in 28x28. Not ported: the estimate of uneven light and shadows in photos
// (images that need it are read with an even background level here).

export const SIZE = 28, BOX = 20;
const MIN_CONTRAST = 0.15, WIDTH_SIDE = 80, TYPICAL_WIDTH = 8.8, SPECK = 0.02;

export class NoInkError extends Error {}

// A float image: {w, h, v: Float32Array} in 0..1.
const image = (w, h, v = new Float32Array(w * h)) => ({ w, h, v });

export function toMnist({ width, height, data }) {
  let gray = toGray(width, height, data);
  if (width === SIZE && height === SIZE && isGray(data) && frameMean(gray) < 0.5) {  // MNIST form already
    if (max(gray.v) < MIN_CONTRAST) throw new NoInkError("no ink found (blank or uniform image)");
    const out = new Uint8Array(SIZE * SIZE);
    for (let i = 0; i < out.length; i++) out[i] = Math.round(gray.v[i] * 255);
    return out;
  }
  const border = median(frame(gray)), dark = border > otsu(gray.v);  // dark ink on light paper?
  const paper = dark ? 1 - border : border, sign = dark ? -1 : 1, offset = dark ? 1 - paper : -paper;
  const ink = image(gray.w, gray.h);  // ink above the paper: sign * gray + offset
  let peak = -Infinity;
  for (let i = 0; i < ink.v.length; i++) {
    ink.v[i] = sign * gray.v[i] + offset;
    if (ink.v[i] > peak) peak = ink.v[i];
  }
  if (peak < MIN_CONTRAST) throw new NoInkError("no ink found (blank or uniform image)");
  for (let i = 0; i < ink.v.length; i++) ink.v[i] = Math.min(1, Math.max(0, ink.v[i] / peak));
  const level = otsu(ink.v);
  let mask = above(ink.v, level);
  if (Math.min(ink.w, ink.h) >= 3 * SIZE) mask = withoutSpecks(mask, ink.w, ink.h);
  const box = bounds(mask, ink.w, ink.h);
  for (let i = 0; i < ink.v.length; i++) if (ink.v[i] <= 0.5 * level) ink.v[i] = 0;
  const digit = crop(ink, box);
  return centreByMass(fitBox(typicalWidth(digit)));
}

function toGray(w, h, data) {
  // OpenCV's BGR2GRAY weights in its fixed point; transparent pixels become paper (opposite the ink)
  const out = image(w, h);
  let opaque = 0, opaqueSum = 0, translucent = false;
  for (let i = 0; i < w * h; i++) {
    const [r, g, b, a] = [data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]];
    out.v[i] = ((r * 4899 + g * 9617 + b * 1868 + 8192) >> 14) / 255;
    if (a < 255) translucent = true;
    if (a > 127) { opaque++; opaqueSum += out.v[i]; }
  }
  if (!translucent) return out;
  const paper = opaque && opaqueSum / opaque < 0.5 ? 1 : 0;
  for (let i = 0; i < w * h; i++) {
    const a = data[4 * i + 3] / 255;
    out.v[i] = out.v[i] * a + paper * (1 - a);
  }
  return out;
}

function isGray(data) {
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] !== data[i + 1] || data[i] !== data[i + 2] || data[i + 3] !== 255) return false;
  }
  return true;
}

function above(v, level) {  // loops, not TypedArray methods: several times faster in V8
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] > level;
  return out;
}

function max(v) {
  let m = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i] > m) m = v[i];
  return m;
}

function frame({ w, h, v }) {
  const out = [];
  for (let x = 0; x < w; x++) out.push(v[x], v[(h - 1) * w + x]);
  for (let y = 1; y < h - 1; y++) out.push(v[y * w], v[y * w + w - 1]);
  return out;
}

function frameMean(im) {
  const values = frame(im);
  return values.reduce((s, x) => s + x, 0) / values.length;
}

function median(values) {
  const s = Float64Array.from(values).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function otsu(values) {
  // OpenCV's Otsu threshold of the image truncated to 8 bits, back on the 0..1 scale
  const hist = new Float64Array(256);
  for (const x of values) hist[Math.min(255, Math.max(0, Math.floor(x * 255)))]++;
  const n = values.length;
  let mu = 0;
  for (let i = 0; i < 256; i++) mu += i * hist[i];
  mu /= n;
  let q1 = 0, mu1 = 0, best = 0, level = 0;
  for (let i = 0; i < 256; i++) {
    const p = hist[i] / n;
    mu1 *= q1;
    q1 += p;
    const q2 = 1 - q1;
    if (Math.min(q1, q2) < 1.1920929e-7 || Math.max(q1, q2) > 1 - 1.1920929e-7) continue;
    mu1 = (mu1 + i * p) / q1;
    const mu2 = (mu - q1 * mu1) / q2, sigma = q1 * q2 * (mu1 - mu2) ** 2;
    if (sigma > best) { best = sigma; level = i; }
  }
  return level / 255;
}

function withoutSpecks(mask, w, h) {
  // 8-connected pieces smaller than SPECK of the largest are dust
  const labels = new Int32Array(w * h), areas = [0];
  for (let start = 0; start < w * h; start++) {
    if (!mask[start] || labels[start]) continue;
    const label = areas.length, stack = [start];
    labels[start] = label;
    let area = 0;
    while (stack.length) {
      const p = stack.pop(), x = p % w, y = (p - x) / w;
      area++;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx, ny = y + dy, q = ny * w + nx;
        if (nx >= 0 && ny >= 0 && nx < w && ny < h && mask[q] && !labels[q]) { labels[q] = label; stack.push(q); }
      }
    }
    areas.push(area);
  }
  if (areas.length <= 2) return mask;
  const keep = SPECK * Math.max(...areas);
  const kept = new Uint8Array(w * h);
  for (let i = 0; i < kept.length; i++) kept[i] = labels[i] && areas[labels[i]] >= keep ? 1 : 0;
  return kept;
}

function bounds(mask, w, h) {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (mask[y * w + x]) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  return { x0, y0, x1, y1 };
}

function crop(im, { x0, y0, x1, y1 }) {
  const out = image(x1 - x0 + 1, y1 - y0 + 1);
  for (let y = 0; y < out.h; y++) for (let x = 0; x < out.w; x++) out.v[y * out.w + x] = im.v[(y + y0) * im.w + x + x0];
  return out;
}

const roundHalfEven = (x) => { const r = Math.round(x); return Math.abs(x % 1) === 0.5 && r % 2 ? r - 1 : r; };

function withLongerSide(im, side, area) {
  const scale = side / Math.max(im.w, im.h);
  const w = Math.max(1, roundHalfEven(im.w * scale)), h = Math.max(1, roundHalfEven(im.h * scale));
  return area ? resizeArea(im, w, h) : resizeLinear(im, w, h);
}

function resizeLinear(im, w, h) {
  // OpenCV's INTER_LINEAR: pixel centres aligned, edges replicated
  const out = image(w, h), fx = im.w / w, fy = im.h / h;
  const axis = (d, f, n) => {
    let s = (d + 0.5) * f - 0.5, i = Math.floor(s), t = s - i;
    if (i < 0) { i = 0; t = 0; }
    if (i >= n - 1) { i = n - 1; t = 0; }
    return [i, Math.min(i + 1, n - 1), t];
  };
  for (let y = 0; y < h; y++) {
    const [y0, y1, ty] = axis(y, fy, im.h);
    for (let x = 0; x < w; x++) {
      const [x0, x1, tx] = axis(x, fx, im.w), v = im.v, W = im.w;
      const top = v[y0 * W + x0] * (1 - tx) + v[y0 * W + x1] * tx, bottom = v[y1 * W + x0] * (1 - tx) + v[y1 * W + x1] * tx;
      out.v[y * w + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

function resizeArea(im, w, h) {
  // OpenCV's INTER_AREA when shrinking: each output pixel the mean of the source area it covers
  const out = image(w, h), fx = im.w / w, fy = im.h / h;
  for (let y = 0; y < h; y++) {
    const sy0 = y * fy, sy1 = sy0 + fy;
    for (let x = 0; x < w; x++) {
      const sx0 = x * fx, sx1 = sx0 + fx;
      let sum = 0;
      for (let j = Math.floor(sy0); j < Math.min(im.h, Math.ceil(sy1)); j++) {
        const wy = Math.min(j + 1, sy1) - Math.max(j, sy0);
        for (let i = Math.floor(sx0); i < Math.min(im.w, Math.ceil(sx1)); i++) {
          sum += im.v[j * im.w + i] * wy * (Math.min(i + 1, sx1) - Math.max(i, sx0));
        }
      }
      out.v[y * w + x] = sum / (fx * fy);
    }
  }
  return out;
}

function strokeWidth(mask, w, h) {
  // twice the area over the outline's length (the outline from the ink's 4-neighbour edges, times pi/4)
  let area = 0, edges = 0;
  const at = (x, y) => (x >= 0 && y >= 0 && x < w && y < h ? mask[y * w + x] : 0);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (!at(x, y)) continue;
    area++;
    edges += !at(x - 1, y) + !at(x + 1, y) + !at(x, y - 1) + !at(x, y + 1);
  }
  return (2 * area) / Math.max(edges * Math.PI / 4, 1);
}

function ellipse(radius) {
  // OpenCV's MORPH_ELLIPSE structuring element of side 2 * radius + 1, as offsets
  const offsets = [];
  for (let i = 0; i <= 2 * radius; i++) {
    const dy = i - radius, dx = radius ? roundHalfEven(radius * Math.sqrt((radius * radius - dy * dy) / (radius * radius))) : 0;
    for (let j = Math.max(radius - dx, 0); j < Math.min(radius + dx + 1, 2 * radius + 1); j++) offsets.push([j - radius, dy]);
  }
  return offsets;
}

function morph(im, radius, grow) {
  // grey dilation (grow) or erosion; outside the image counts as neither
  const out = image(im.w, im.h), kernel = ellipse(radius), n = kernel.length;
  const kx = Int32Array.from(kernel, (k) => k[0]), ky = Int32Array.from(kernel, (k) => k[1]);
  for (let y = 0; y < im.h; y++) for (let x = 0; x < im.w; x++) {
    let best = grow ? -Infinity : Infinity;
    for (let k = 0; k < n; k++) {
      const nx = x + kx[k], ny = y + ky[k];
      if (nx < 0 || ny < 0 || nx >= im.w || ny >= im.h) continue;
      const v = im.v[ny * im.w + nx];
      if (grow ? v > best : v < best) best = v;
    }
    out.v[y * im.w + x] = best;
  }
  return out;
}

function typicalWidth(digit) {
  // strokes far thinner (a hairline pen) or thicker (a marker) than MNIST's brought to its width
  const big = withLongerSide(digit, WIDTH_SIDE, false);
  const width = strokeWidth(above(big.v, 0.5), big.w, big.h);
  if (width >= TYPICAL_WIDTH * 0.75 && width <= TYPICAL_WIDTH * 1.5) return digit;
  const changed = morph(big, roundHalfEven(Math.abs(TYPICAL_WIDTH - width) / 2), width < TYPICAL_WIDTH);
  return max(changed.v) > 0.5 ? changed : big;
}

const fitBox = (digit) => withLongerSide(digit, BOX, Math.max(digit.w, digit.h) > BOX);

function centreByMass(digit) {
  const canvas = image(SIZE, SIZE), top = (SIZE - digit.h) >> 1, left = (SIZE - digit.w) >> 1;
  let m00 = 0, m10 = 0, m01 = 0;
  for (let y = 0; y < digit.h; y++) for (let x = 0; x < digit.w; x++) {
    const v = digit.v[y * digit.w + x];
    canvas.v[(y + top) * SIZE + x + left] = v;
    m00 += v; m10 += v * (x + left); m01 += v * (y + top);
  }
  let out = canvas;
  if (m00 > 0) {  // shift (bilinear, black outside) so that the centre of mass is at the centre
    const dx = SIZE / 2 - m10 / m00 - 0.5, dy = SIZE / 2 - m01 / m00 - 0.5;
    out = image(SIZE, SIZE);
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) {
      const sx = x - dx, sy = y - dy, x0 = Math.floor(sx), y0 = Math.floor(sy), tx = sx - x0, ty = sy - y0;
      const at = (i, j) => (i >= 0 && j >= 0 && i < SIZE && j < SIZE ? canvas.v[j * SIZE + i] : 0);
      out.v[y * SIZE + x] = (at(x0, y0) * (1 - tx) + at(x0 + 1, y0) * tx) * (1 - ty)
        + (at(x0, y0 + 1) * (1 - tx) + at(x0 + 1, y0 + 1) * tx) * ty;
    }
  }
  const peak = Math.max(max(out.v), 1e-6), pixels = new Uint8Array(SIZE * SIZE);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(255, Math.max(0, Math.floor((out.v[i] / peak) * 255 + 0.5)));
  return pixels;
}
