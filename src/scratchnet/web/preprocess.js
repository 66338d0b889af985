// scratchnet preprocessing in JavaScript: a picture of a digit -> MNIST's 28x28 form.
//
// A port of src/scratchnet/preprocess.py (the reference), step by step as docs/PREPROCESS.md
// specifies them, so that a drawing on the page becomes the very 784 numbers that
// `scratchnet predict --image` computes from the same pixels. Every step is integer arithmetic
// on typed arrays (exact in doubles: nothing here outgrows 2^53) except Otsu's comparison, which
// needs BigInt. Functions are named as in preprocess.py (light_ink -> lightInk); an image is
// {h, w, data}: h rows of w values, row-major.
//
// window.ScratchnetPreprocess.toMnist(rgba, width, height) takes canvas ImageData.data (RGBA bytes,
// not premultiplied) and returns a Uint8Array(784), white ink on black; a blank picture throws an
// Error with the one-line message Python's ScratchnetError gives for the same pixels as a PIL
// RGBA image. steps(rgba, width, height) returns every intermediate image, as preprocess.py's trace.
(function () {
  "use strict";

  // the constants of docs/PREPROCESS.md, "Conventions", named as in preprocess.py
  const SIZE = 28;
  const BOX = 20;
  const MAX_PIXELS = 50000000;
  const WORK_SIDE = 1024;
  const CELLS = 8;
  const LOCATE_SIDE = 128;
  const MIN_CONTRAST = 24;
  const FINE = 4;
  const STROKE = [55, 75, 105];
  const KEEP_FRACTION = 10;
  const NAME = "image"; // what Python's messages call a picture given as a PIL image

  function image(h, w, data) {
    return { h: h, w: w, data: data };
  }

  // Conventions: ceil(a / b) and round(a / b) (halves up) for integers a >= 0, b > 0. Math.floor
  // of a quotient of integers below 2^53 is exact: the rounding error is below 1/b.
  function ceilDiv(a, b) {
    return Math.floor((a + b - 1) / b);
  }

  function roundDiv(num, den) {
    return Math.floor((2 * num + den) / (2 * den));
  }

  // -------------------------------------------------------------------------
  // 0. Decode: greyscale and transparency, as preprocess.py does for an RGBA PIL image

  function checkSize(width, height) {
    if (width < 1 || height < 1) {
      throw new Error(NAME + ": the image is empty (" + width + "x" + height + " pixels)");
    }
    if (width * height > MAX_PIXELS) {
      const grouped = (n) => n.toLocaleString("en-US");
      throw new Error(NAME + ": " + width + "x" + height + " is " + grouped(width * height) + " pixels, more than the " +
                      grouped(MAX_PIXELS) + " this reads; scale it down first");
    }
  }

  // Pillow's convert("L"): Y = (19595 R + 38470 G + 7471 B + 32768) >> 16; and in the same pass
  // the sums composite needs: A, of alpha, and AY, of alpha * Y (below 50e6 * 255^2 < 2^53: exact).
  function channels(rgba, width, height) {
    const n = width * height;
    const grey = new Uint8Array(n);
    let weight = 0, shade = 0;
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const y = (19595 * rgba[j] + 38470 * rgba[j + 1] + 7471 * rgba[j + 2] + 32768) >> 16;
      grey[i] = y;
      weight += rgba[j + 3];
      shade += rgba[j + 3] * y;
    }
    return { grey: image(height, width, grey), weight: weight, shade: shade };
  }

  // Transparency lies on paper opposite the ink's alpha-weighted mean shade: P = 255 if 2 AY < 255 A,
  // else 0; each pixel becomes floor((Y a + P (255 - a) + 127) / 255).
  function composite(grey, rgba, weight, shade) {
    const g = grey.data, n = g.length;
    if (weight === 0) {
      throw new Error(NAME + ": the image is fully transparent: there is no digit in it");
    }
    if (weight === 255 * n) { // opaque: each pixel keeps Y, as (255 Y + 127) // 255 = Y
      return grey;
    }
    const paper = 2 * shade < 255 * weight ? 255 : 0;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const a = rgba[4 * i + 3];
      out[i] = ((g[i] * a + paper * (255 - a) + 127) / 255) | 0;
    }
    return image(grey.h, grey.w, out);
  }

  // -------------------------------------------------------------------------
  // the arithmetic of "Conventions"

  // Box reduction by `factor`: each block's mean over the pixels it has, rounded halves up.
  function reduce(img, factor) {
    if (factor === 1) {
      return img;
    }
    const h = img.h, w = img.w, src = img.data;
    const hk = ceilDiv(h, factor), wk = ceilDiv(w, factor);
    const sums = new Float64Array(hk * wk);
    for (let y = 0; y < h; y++) {
      const base = Math.floor(y / factor) * wk;
      for (let bx = 0; bx < wk; bx++) {
        let sum = 0;
        for (let i = y * w + bx * factor, stop = y * w + Math.min(w, (bx + 1) * factor); i < stop; i++) {
          sum += src[i];
        }
        sums[base + bx] += sum;
      }
    }
    const out = new Uint8Array(hk * wk);
    for (let by = 0; by < hk; by++) {
      const rows = Math.min(factor, h - factor * by);
      for (let bx = 0; bx < wk; bx++) {
        out[by * wk + bx] = roundDiv(sums[by * wk + bx], rows * Math.min(factor, w - factor * bx));
      }
    }
    return image(hk, wk, out);
  }

  // Order statistic num/den of the 256 counts at hist[offset..]: the least v whose cumulative count
  // exceeds floor((n - 1) num / den); 0 for an empty set.
  function orderStat(hist, offset, num, den) {
    let n = 0;
    for (let v = 0; v < 256; v++) {
      n += hist[offset + v];
    }
    if (n === 0) {
      return 0;
    }
    const rank = Math.floor((n - 1) * num / den);
    let v = 0;
    for (let cumulative = hist[offset]; cumulative <= rank; cumulative += hist[offset + v]) {
      v++;
    }
    return v;
  }

  // Adds the counts of values[start..stop) where mask is non-zero (all without a mask) to the 256
  // counts at hist[offset..]. By runs of one value: paper is one long run, and an increment per
  // pixel of one count would wait for the previous one.
  function count(values, start, stop, hist, offset, mask) {
    let previous = values[start], run = 0;
    for (let i = start; i < stop; i++) {
      if (mask && !mask[i]) {
        continue;
      }
      const v = values[i];
      if (v === previous) {
        run++;
      } else {
        hist[offset + previous] += run;
        previous = v;
        run = 1;
      }
    }
    hist[offset + previous] += run;
  }

  function histogram(values, mask) {
    const hist = new Int32Array(256);
    count(values, 0, values.length, hist, 0, mask);
    return hist;
  }

  // Cells of size `cell`: a histogram (256 counts) per cell, cells row-major, of the pixels where
  // mask is non-zero (all without a mask).
  function cellHist(img, cell, mask) {
    const h = img.h, w = img.w;
    const gx = ceilDiv(w, cell);
    const hist = new Int32Array(ceilDiv(h, cell) * gx * 256);
    for (let y = 0; y < h; y++) {
      const base = Math.floor(y / cell) * gx;
      for (let cx = 0; cx < gx; cx++) {
        count(img.data, y * w + cx * cell, y * w + Math.min(w, (cx + 1) * cell), hist, (base + cx) * 256, mask);
      }
    }
    return hist;
  }

  // The cell histograms of 255 - the image: each cell's counts reversed.
  function invertHist(hist) {
    const out = new Int32Array(hist.length);
    for (let c = 0; c < hist.length; c += 256) {
      for (let v = 0; v < 256; v++) {
        out[c + v] = hist[c + 255 - v];
      }
    }
    return out;
  }

  // Interpolating cell values to pixels: per axis of n pixels and g cells, each pixel's two cells
  // and the share f of the second, in 1/(2 cell).
  function upsampleAxis(n, g, cell) {
    const i0 = new Int32Array(n), i1 = new Int32Array(n), f = new Int32Array(n);
    for (let p = 0; p < n; p++) {
      const t = 2 * p - (cell - 1);
      const first = Math.floor(t / (2 * cell));
      f[p] = first < 0 || first >= g - 1 ? 0 : t - 2 * cell * first;
      i0[p] = Math.min(Math.max(first, 0), g - 1);
      i1[p] = Math.min(i0[p] + 1, g - 1);
    }
    return { i0: i0, i1: i1, f: f };
  }

  // Bilinear interpolation of the gy x gx grid (values at the cells' centres, constant beyond the
  // outer ones) to h x w pixels, rounded halves up, in a new array of type Type. Where the four
  // cells around a pixel hold one value, it is that value: such stretches (blank paper) are filled.
  function upsample(grid, gy, gx, cell, h, w, Type) {
    const ys = upsampleAxis(h, gy, cell), xs = upsampleAxis(w, gx, cell);
    const across = new Int32Array(gy * w); // each cell row interpolated along x, scaled by 2 cell
    for (let i = 0; i < gy; i++) {
      for (let x = 0; x < w; x++) {
        across[i * w + x] = (2 * cell - xs.f[x]) * grid[i * gx + xs.i0[x]] + xs.f[x] * grid[i * gx + xs.i1[x]];
      }
    }
    const runs = []; // [start, stop) of each run of columns between the same two cells
    for (let x = 0; x < w;) {
      let stop = x + 1;
      while (stop < w && xs.i0[stop] === xs.i0[x]) {
        stop++;
      }
      runs.push(x, stop);
      x = stop;
    }
    const out = new Type(h * w);
    const den = 4 * cell * cell;
    for (let y = 0; y < h; y++) {
      const fy = ys.f[y], top = ys.i0[y] * w, bottom = ys.i1[y] * w, row = y * w;
      for (let r = 0; r < runs.length; r += 2) {
        const start = runs[r], stop = runs[r + 1];
        const left = xs.i0[start], right = xs.i1[start], v = grid[ys.i0[y] * gx + left];
        if (grid[ys.i0[y] * gx + right] === v && grid[ys.i1[y] * gx + left] === v && grid[ys.i1[y] * gx + right] === v) {
          out.fill(v, row + start, row + stop);
          continue;
        }
        for (let x = start; x < stop; x++) {
          out[row + x] = roundDiv((2 * cell - fy) * across[top + x] + fy * across[bottom + x], den);
        }
      }
    }
    return out;
  }

  // Whether a^2 / b > c^2 / d, for integers exact as doubles. Their products are not: doubles
  // decide when the two differ by more than their rounding can, BigInt otherwise (rarely).
  function greaterScore(a, b, c, d) {
    const left = a * a / b, right = c * c / d;
    if (Math.abs(left - right) > 1e-9 * Math.max(left, right)) {
      return left > right;
    }
    const x = BigInt(a), y = BigInt(c);
    return x * x * BigInt(d) > y * y * BigInt(b);
  }

  // Otsu's threshold of 256 counts: the first t with the greatest (s0 w1 - s1 w0)^2 / (w0 w1),
  // compared exactly. s0 w1 - s1 w0 and w0 w1 are exact doubles: the histograms here count at most
  // WORK_SIDE^2 pixels.
  function otsu(hist) {
    let total = 0, mass = 0;
    for (let v = 0; v < 256; v++) {
      total += hist[v];
      mass += v * hist[v];
    }
    let best = 0, bestBetween = 0, bestDen = 0;
    let w0 = 0, s0 = 0;
    for (let t = 0; t < 255; t++) {
      w0 += hist[t];
      s0 += t * hist[t];
      const w1 = total - w0, s1 = mass - s0;
      if (w0 === 0 || w1 === 0) {
        continue;
      }
      const between = s0 * w1 - s1 * w0, den = w0 * w1;
      if (bestDen === 0 || greaterScore(between, den, bestBetween, bestDen)) {
        best = t;
        bestBetween = between;
        bestDen = den;
      }
    }
    return best;
  }

  // 8-connected pieces of a mask, numbered in the raster order of their first pixel: each pixel's
  // piece number (-1: none) and the number of pieces.
  function components(mask, h, w) {
    const label = new Int32Array(h * w).fill(-1);
    const queue = new Int32Array(h * w);
    let pieces = 0;
    for (let start = 0; start < h * w; start++) {
      if (!mask[start] || label[start] >= 0) {
        continue;
      }
      label[start] = pieces;
      let head = 0, tail = 0;
      queue[tail++] = start;
      while (head < tail) {
        const p = queue[head++];
        const y = Math.floor(p / w), x = p - y * w;
        for (let ny = Math.max(y - 1, 0); ny < Math.min(y + 2, h); ny++) {
          for (let nx = Math.max(x - 1, 0); nx < Math.min(x + 2, w); nx++) {
            const q = ny * w + nx;
            if (mask[q] && label[q] < 0) {
              label[q] = pieces;
              queue[tail++] = q;
            }
          }
        }
      }
      pieces++;
    }
    return { label: label, count: pieces };
  }

  // -------------------------------------------------------------------------
  // 2. Polarity: MNIST's ink is light

  // Per cell, the median of it and its existing eight neighbours together (order statistic 1/2 of
  // their pooled histograms). hist: the cells' histograms (cellHist). Searched from both ends of
  // 0..255 at once, counting the nine histograms' bins as it goes: the median of blank paper is
  // found in a step or two, whether the paper is light or dark.
  function neighbourhoodMedian(hist, gy, gx) {
    const sizes = new Int32Array(gy * gx); // each cell's count of pixels
    for (let c = 0; c < gy * gx; c++) {
      for (let v = 0; v < 256; v++) {
        sizes[c] += hist[c * 256 + v];
      }
    }
    const grid = new Int32Array(gy * gx);
    const offsets = new Int32Array(9);
    for (let cy = 0; cy < gy; cy++) {
      for (let cx = 0; cx < gx; cx++) {
        let cells = 0, n = 0;
        for (let ny = Math.max(cy - 1, 0); ny < Math.min(cy + 2, gy); ny++) {
          for (let nx = Math.max(cx - 1, 0); nx < Math.min(cx + 2, gx); nx++) {
            offsets[cells++] = (ny * gx + nx) * 256;
            n += sizes[ny * gx + nx];
          }
        }
        const pooled = (v) => {
          let sum = 0;
          for (let k = 0; k < cells; k++) {
            sum += hist[offsets[k] + v];
          }
          return sum;
        };
        // the median is the least v with count(<= v) > rank, or equally the greatest with
        // count(>= v) >= n - rank
        const rank = Math.floor((n - 1) / 2);
        let low = 0, high = 255, upTo = pooled(0), downTo = pooled(255);
        while (upTo <= rank && downTo < n - rank) {
          upTo += pooled(++low);
          downTo += pooled(--high);
        }
        grid[cy * gx + cx] = upTo > rank ? low : high;
      }
    }
    return grid;
  }

  // Whether the pixels above the interpolated neighbourhood median stray from it at least as far
  // in all as those below it. hist: cellHist(work, cell).
  function lightInk(work, cell, hist) {
    const gy = ceilDiv(work.h, cell), gx = ceilDiv(work.w, cell);
    const median = upsample(neighbourhoodMedian(hist, gy, gx), gy, gx, cell, work.h, work.w, Uint8Array);
    const src = work.data; // read once: a property read inside the loop is not hoisted
    let above = 0, below = 0;
    for (let i = 0; i < median.length; i++) {
      const deviation = src[i] - median[i];
      if (deviation > 0) {
        above += deviation;
      } else {
        below -= deviation;
      }
    }
    return above >= below;
  }

  // -------------------------------------------------------------------------
  // 3. Remove the background, uneven lighting included

  // Per cell, the least of it and its existing eight neighbours.
  function darkest3x3(grid, gy, gx) {
    const out = new Int32Array(gy * gx);
    for (let cy = 0; cy < gy; cy++) {
      for (let cx = 0; cx < gx; cx++) {
        let least = 255;
        for (let ny = Math.max(cy - 1, 0); ny < Math.min(cy + 2, gy); ny++) {
          for (let nx = Math.max(cx - 1, 0); nx < Math.min(cx + 2, gx); nx++) {
            least = Math.min(least, grid[ny * gx + nx]);
          }
        }
        out[cy * gx + cx] = least;
      }
    }
    return out;
  }

  // The background B under every pixel and the ink map I = clip(W - B, 0, 255).
  // hist: cellHist(work, cell).
  function removeBackground(work, cell, hist) {
    const h = work.h, w = work.w, n = h * w, src = work.data; // read once, not in every loop
    const gy = ceilDiv(h, cell), gx = ceilDiv(w, cell);
    const quarter = new Int32Array(gy * gx);
    for (let c = 0; c < gy * gx; c++) {
      quarter[c] = orderStat(hist, c * 256, 1, 4);
    }
    const rough = darkest3x3(quarter, gy, gx);
    const first = upsample(rough, gy, gx, cell, h, w, Uint8Array);
    const positive = new Uint8Array(n); // clip(E, 0, 255), E = W - F
    for (let i = 0; i < n; i++) {
      positive[i] = Math.max(src[i] - first[i], 0);
    }
    const threshold = otsu(histogram(positive));
    const paper = new Uint8Array(n); // |E| <= t1
    for (let i = 0; i < n; i++) {
      paper[i] = Math.abs(src[i] - first[i]) <= threshold ? 1 : 0;
    }
    const paperHist = cellHist(work, cell, paper);
    const grid = new Int32Array(gy * gx);
    for (let c = 0; c < gy * gx; c++) {
      let size = 0;
      for (let v = 0; v < 256; v++) {
        size += paperHist[c * 256 + v];
      }
      grid[c] = size > 0 ? orderStat(paperHist, c * 256, 1, 2) : rough[c];
    }
    const background = upsample(grid, gy, gx, cell, h, w, Uint8Array);
    const ink = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      ink[i] = Math.max(src[i] - background[i], 0);
    }
    return { background: image(h, w, background), ink: image(h, w, ink) };
  }

  // -------------------------------------------------------------------------
  // 4. Find the digit: a map of the working image, 1 near the kept pieces of ink (`near`), and the
  // bounds of the rows [top, bottom) and columns [left, right) where it has any

  function locate(ink) {
    const h = ink.h, w = ink.w;
    const factor = ceilDiv(Math.max(h, w), LOCATE_SIDE);
    const coarse = reduce(ink, factor);
    const ch = coarse.h, cw = coarse.w, c = coarse.data;
    const threshold = otsu(histogram(c));
    const above = new Uint8Array(ch * cw);
    for (let i = 0; i < ch * cw; i++) {
      above[i] = c[i] > threshold ? 1 : 0;
    }
    const pieces = components(above, ch, cw);
    const near = new Uint8Array(h * w);
    if (pieces.count === 0) {
      return { near: near, top: 0, bottom: 0, left: 0, right: 0 };
    }
    const weights = new Float64Array(pieces.count);
    const edge = new Uint8Array(pieces.count);
    for (let i = 0; i < ch * cw; i++) {
      const piece = pieces.label[i];
      if (piece >= 0) {
        weights[piece] += c[i];
        const y = Math.floor(i / cw), x = i - y * cw;
        if (y === 0 || y === ch - 1 || x === 0 || x === cw - 1) {
          edge[piece] = 1;
        }
      }
    }
    let heaviest = 0; // the first of greatest weight
    for (let i = 1; i < pieces.count; i++) {
      if (weights[i] > weights[heaviest]) {
        heaviest = i;
      }
    }
    let main = -1; // the heaviest inside piece not too light (the first on ties), else the heaviest
    for (let i = 0; i < pieces.count; i++) {
      if (!edge[i] && weights[i] * KEEP_FRACTION >= weights[heaviest] && (main < 0 || weights[i] > weights[main])) {
        main = i;
      }
    }
    main = main < 0 ? heaviest : main;
    const kept = new Uint8Array(pieces.count);
    for (let i = 0; i < pieces.count; i++) {
      kept[i] = i === main || (weights[i] * KEEP_FRACTION >= weights[main] && (edge[main] || !edge[i])) ? 1 : 0;
    }
    // kept coarse cells grown by one cell on every side, each covering factor x factor pixels
    const grown = new Uint8Array(ch * cw);
    let top = ch, bottom = 0, left = cw, right = 0; // the cells they span
    for (let i = 0; i < ch * cw; i++) {
      if (pieces.label[i] >= 0 && kept[pieces.label[i]]) {
        const y = Math.floor(i / cw), x = i - y * cw;
        top = Math.min(top, y - 1);
        bottom = Math.max(bottom, y + 2);
        left = Math.min(left, x - 1);
        right = Math.max(right, x + 2);
        for (let ny = Math.max(y - 1, 0); ny < Math.min(y + 2, ch); ny++) {
          for (let nx = Math.max(x - 1, 0); nx < Math.min(x + 2, cw); nx++) {
            grown[ny * cw + nx] = 1;
          }
        }
      }
    }
    // the rows and columns of pixels the region spans: later steps look only there
    const region = { near: near, top: Math.max(top, 0) * factor, bottom: Math.min(bottom * factor, h),
                     left: Math.max(left, 0) * factor, right: Math.min(right * factor, w) };
    const column = new Int32Array(w);
    for (let x = 0; x < w; x++) {
      column[x] = Math.floor(x / factor);
    }
    for (let y = region.top; y < region.bottom; y++) {
      const row = Math.floor(y / factor) * cw;
      for (let x = region.left, i = y * w + x; x < region.right; x++, i++) {
        near[i] = grown[row + column[x]];
      }
    }
    return region;
  }

  // -------------------------------------------------------------------------
  // 7. and 8. Resampling, stroke width, the box

  // Area resampling to height x width: overlaps in units of 1/height of a source row (1/width of
  // a column) are integers, so every sum is an exact integer; done rows first, then columns.
  function areaWeights(nIn, nOut) {
    const start = new Int32Array(nOut), stop = new Int32Array(nOut);
    const weight = []; // weight[j][k]: the overlap of output j with source start[j] + k
    for (let j = 0; j < nOut; j++) {
      start[j] = Math.floor(j * nIn / nOut);
      stop[j] = ceilDiv((j + 1) * nIn, nOut);
      const row = new Float64Array(stop[j] - start[j]);
      for (let y = start[j]; y < stop[j]; y++) {
        row[y - start[j]] = Math.max(0, Math.min((j + 1) * nIn, (y + 1) * nOut) - Math.max(j * nIn, y * nOut));
      }
      weight.push(row);
    }
    return { start: start, weight: weight };
  }

  function areaResample(img, height, width) {
    const h = img.h, w = img.w, src = img.data;
    const wy = areaWeights(h, height), wx = areaWeights(w, width);
    const rows = new Float64Array(height * w);
    for (let j = 0; j < height; j++) {
      const weight = wy.weight[j];
      for (let k = 0; k < weight.length; k++) {
        const a = weight[k], from = (wy.start[j] + k) * w, to = j * w;
        for (let x = 0; x < w; x++) {
          rows[to + x] += a * src[from + x];
        }
      }
    }
    const out = new Uint8Array(height * width);
    for (let j = 0; j < height; j++) {
      for (let i = 0; i < width; i++) {
        const weight = wx.weight[i], from = j * w + wx.start[i];
        let total = 0;
        for (let k = 0; k < weight.length; k++) {
          total += weight[k] * rows[from + k];
        }
        out[j * width + i] = roundDiv(total, h * w);
      }
    }
    return image(height, width, out);
  }

  // The digit's size in the box: the long side BOX, the other in proportion (at least 1).
  function boxSize(height, width) {
    if (height >= width) {
      return [BOX, Math.max(1, roundDiv(BOX * width, height))];
    }
    return [Math.max(1, roundDiv(BOX * height, width)), BOX];
  }

  // The max (grow) or min (thin) of each pixel's 3x3 neighbourhood; outside counts as 0.
  function filter3x3(img, grow) {
    const h = img.h, w = img.w, src = img.data;
    const pick = grow ? Math.max : Math.min;
    const rows = new Uint8Array(h * w); // along each column first
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        rows[i] = pick(src[i], y > 0 ? src[i - w] : 0, y < h - 1 ? src[i + w] : 0);
      }
    }
    const out = new Uint8Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        out[i] = pick(rows[i], x > 0 ? rows[i - 1] : 0, x < w - 1 ? rows[i + 1] : 0);
      }
    }
    return image(h, w, out);
  }

  // (A, P): the pixels above 127 and the sides they share with a pixel at or below 127 or with
  // the outside.
  function strokeWidth(fine) {
    const h = fine.h, w = fine.w, src = fine.data;
    let area = 0, outline = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        if (src[i] > 127) {
          area++;
          outline += (y === 0 || src[i - w] <= 127) + (y === h - 1 || src[i + w] <= 127) +
                     (x === 0 || src[i - 1] <= 127) + (x === w - 1 || src[i + 1] <= 127);
        }
      }
    }
    return [area, outline];
  }

  function pad(img, by) {
    const w = img.w + 2 * by;
    const out = new Uint8Array((img.h + 2 * by) * w);
    for (let y = 0; y < img.h; y++) {
      out.set(img.data.subarray(y * img.w, (y + 1) * img.w), (y + by) * w + by);
    }
    return image(img.h + 2 * by, w, out);
  }

  // The smallest part holding every non-zero pixel (the image has one).
  function cropNonZero(img) {
    let top = img.h, bottom = -1, left = img.w, right = -1;
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < img.w; x++) {
        if (img.data[y * img.w + x]) {
          top = Math.min(top, y);
          bottom = y;
          left = Math.min(left, x);
          right = Math.max(right, x);
        }
      }
    }
    return crop(img, top, bottom + 1, left, right + 1);
  }

  function crop(img, top, bottom, left, right) {
    const w = right - left;
    const out = new Uint8Array((bottom - top) * w);
    for (let y = top; y < bottom; y++) {
      out.set(img.data.subarray(y * img.w + left, y * img.w + right), (y - top) * w);
    }
    return image(bottom - top, w, out);
  }

  // 7. Bring the stroke width 2A/P (in fine pixels) into MNIST's range: first stretch the shades
  // so that the 3/4 order statistic of the inked pixels is 255, then grow or thin by
  // r = round(|75 P - 20 A| / (20 P)) passes and crop to the ink again; in range, nothing changes.
  function normaliseStrokes(fine) {
    const inked = histogram(fine.data);
    inked[0] = 0;
    const level = orderStat(inked, 0, 3, 4);
    if (level > 0 && level < 255) { // strokes thinner than a fine pixel came out grey
      const stretched = new Uint8Array(fine.data.length);
      for (let i = 0; i < stretched.length; i++) {
        stretched[i] = Math.min(255, roundDiv(fine.data[i] * 255, level));
      }
      fine = image(fine.h, fine.w, stretched);
    }
    const [area, outline] = strokeWidth(fine);
    const [low, target, high] = STROKE;
    if (outline === 0 || (low * outline <= 20 * area && 20 * area <= high * outline)) {
      return fine;
    }
    const passes = roundDiv(Math.abs(target * outline - 20 * area), 20 * outline);
    if (20 * area < low * outline) {
      fine = pad(fine, passes);
      for (let k = 0; k < passes; k++) {
        fine = filter3x3(fine, true);
      }
    } else {
      let thinned = fine;
      for (let k = 0; k < passes; k++) {
        thinned = filter3x3(thinned, false);
      }
      if (thinned.data.some((v) => v > 127)) { // never thin a digit away
        fine = thinned;
      }
    }
    return cropNonZero(fine);
  }

  // 9. Centred by mass in 28x28: offset floor((14 T - S) / T), kept inside the field.
  function centre(digit) {
    const h = digit.h, w = digit.w;
    let total = 0, sy = 0, sx = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = digit.data[y * w + x];
        total += v;
        sy += y * v;
        sx += x * v;
      }
    }
    const oy = Math.min(Math.max(Math.floor((14 * total - sy) / total), 0), SIZE - h);
    const ox = Math.min(Math.max(Math.floor((14 * total - sx) / total), 0), SIZE - w);
    const field = new Uint8Array(SIZE * SIZE);
    for (let y = 0; y < h; y++) {
      field.set(digit.data.subarray(y * w, (y + 1) * w), (oy + y) * SIZE + ox);
    }
    return field;
  }

  // -------------------------------------------------------------------------
  // all the steps, as preprocess.to_mnist; `trace` (if given) receives each step's image by name

  function toMnist(rgba, width, height, trace) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || !rgba || rgba.length !== 4 * width * height) {
      throw new Error("toMnist needs width * height RGBA bytes (canvas ImageData.data), whole sizes");
    }
    checkSize(width, height);
    const record = trace ? (name, img) => { trace[name] = img; } : () => {};
    const decoded = channels(rgba, width, height);
    const grey = composite(decoded.grey, rgba, decoded.weight, decoded.shade);
    record("greyscale", grey);

    // 1. the working image: an integer box reduction to at most WORK_SIDE on the long side
    let work = reduce(grey, ceilDiv(Math.max(grey.h, grey.w), WORK_SIDE));
    const h = work.h, w = work.w, n = h * w;
    const cell = ceilDiv(Math.min(h, w), CELLS);

    // 2. polarity: MNIST's ink is light
    let cells = cellHist(work, cell); // the histograms of its cells serve steps 2 and 3
    if (!lightInk(work, cell, cells)) {
      cells = invertHist(cells);
      const inverted = new Uint8Array(n), src = work.data;
      for (let i = 0; i < n; i++) {
        inverted[i] = 255 - src[i];
      }
      work = image(h, w, inverted);
    }
    record("polarity", work);

    // 3. background
    const { background, ink } = removeBackground(work, cell, cells);
    record("background", background);
    record("ink", ink);

    // 4. find the digit, then measure its ink where it is: Otsu's threshold, and the stroke's level
    const region = locate(ink);
    const near = region.near;
    if (trace) {
      record("located", image(h, w, ink.data.map((v, i) => (near[i] ? v : v >> 2))));
    }
    const hist = new Int32Array(256);
    for (let y = region.top; y < region.bottom; y++) {
      count(ink.data, y * w + region.left, y * w + region.right, hist, 0, near);
    }
    const threshold = otsu(hist);
    hist.fill(0, 0, threshold + 1);
    const level = orderStat(hist, 0, 1, 2); // 0 if no pixel is above the threshold
    if (level < MIN_CONTRAST) {
      throw new Error(NAME + ": no digit found: the picture is blank or has too little contrast");
    }

    // 5. contrast, and the bounds of the ink above the threshold for 6.
    const low = threshold >> 1; // keeps the anti-aliased edge of the strokes
    const scaled = new Uint8Array(n), src = ink.data;
    let top = h, bottom = -1, left = w, right = -1;
    for (let y = region.top; y < region.bottom; y++) {
      for (let x = region.left, i = y * w + x; x < region.right; x++, i++) {
        if (near[i]) {
          const v = src[i];
          scaled[i] = Math.min(255, roundDiv(Math.max(v - low, 0) * 255, level - low));
          if (v > threshold) {
            top = Math.min(top, y);
            bottom = y;
            left = Math.min(left, x);
            right = Math.max(right, x);
          }
        }
      }
    }
    const normalised = image(h, w, scaled);
    record("normalised", normalised);

    // 6. crop to the ink above the threshold
    const cropped = crop(normalised, top, bottom + 1, left, right + 1);
    record("cropped", cropped);

    // 7. stroke width, at FINE times the box's resolution; 8. into the 20x20 box
    const [boxH, boxW] = boxSize(cropped.h, cropped.w);
    const fine = normaliseStrokes(areaResample(cropped, FINE * boxH, FINE * boxW));
    record("strokes", fine);
    const digit = areaResample(fine, ...boxSize(fine.h, fine.w));
    record("box", digit);
    if (!digit.data.some((v) => v > 0)) {
      throw new Error(NAME + ": no digit found: the ink is too faint or too small");
    }

    // 9. centred by mass in 28x28
    const out = centre(digit);
    record("mnist", image(SIZE, SIZE, out));
    return out;
  }

  // Every step's image by name ({h, w, data}), as preprocess.to_mnist's trace; throws as toMnist.
  function steps(rgba, width, height) {
    const trace = {};
    toMnist(rgba, width, height, trace);
    return trace;
  }

  window.ScratchnetPreprocess = { toMnist: toMnist, steps: steps, otsu: otsu };
})();
