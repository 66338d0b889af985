// scratchnet explorer: draw a digit and watch every number of the network (issue 11), one training step
// of it, why it answers and what it imagines (issue 17).
// A plain script, no modules, no build step: explorer.py inlines it (after preprocess.js and learn.js) with the
// page's data. It works the same from `scratchnet serve` (data.server true: the API below is there)
// and from a file exported with `scratchnet export --format html` (no server: no training).
(function () {
  'use strict';

  const DATA = JSON.parse(document.getElementById('scratchnet-data').textContent);
  const SERVER = DATA.server === true;
  const INV255 = 1 / 255;  // inputs are pixel * (1/255), as data.inputs computes them: NumPy's very bits
  const PAD = 280;  // the drawing pad's pixels per side (its backing store, whatever its size on screen)
  const INK = 18;  // pen width on the pad, in its pixels: a digit stroke ~1/15 of the box, as in MNIST
  const MAX_LINES = 20000;  // connections drawn before thinning, as svg.py's budget
  const LEVELS = 16;  // shades of a connection's strength; the lines of one shade are one path
  const FAINT = 2;  // shades too faint to see (alpha < 0.1): not drawn when colouring contributions
  const POS = [247, 148, 29], NEG = [58, 150, 240], ZERO = [17, 19, 23];  // blue-orange, dark at 0
  const MAX_TILES = 64;  // first-layer weight tiles shown
  const NUMBER = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;  // docs/FORMAT.md's numbers
  const $ = (id) => document.getElementById(id);
  const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

  // ---------------------------------------------------------------------------------------------
  // numbers

  // The shortest decimal digits that read back to a float32 x (> 0), the closest to it of that length
  // (ties to even), as NumPy's Dragon4: {digits, exp}, x ~ d.ddd * 10^exp. From x's exact decimal
  // expansion (finite: m * 2^e = m * 5^-e / 10^-e), rounded to 1, 2, ... 9 digits.
  function float32Digits(x) {
    const bits = new Uint32Array(new Float32Array([x]).buffer)[0];
    let e = (bits >>> 23) & 255, m = bits & 0x7fffff;
    if (e) m |= 0x800000; else e = 1;
    e -= 150;  // x = m * 2^e
    const all = e >= 0 ? (BigInt(m) << BigInt(e)).toString() : (BigInt(m) * 5n ** BigInt(-e)).toString();
    const exp = all.length - 1 + Math.min(e, 0);
    const D = all.replace(/0+$/, '');
    for (let p = 1; ; p++) {
      if (D.length <= p) return { digits: D, exp };
      const head = BigInt(D.slice(0, p)), next = D.charCodeAt(p) - 48;
      const up = next > 5 || (next === 5 && (D.length > p + 1 || head % 2n === 1n));
      // the nearest p digits; at a power of two the farther neighbour may read back when it does not
      for (const n of up ? [head + 1n, head] : [head, head + 1n]) {
        if (Math.fround(Number(`${n}e${exp - p + 1}`)) !== x) continue;
        const digits = n.toString();  // 99.. + 1 carries into one more digit: one power of ten more
        return { digits: digits.slice(0, p).replace(/0+$/, '') || '0', exp: exp + digits.length - p };
      }
    }
  }

  // The shortest decimal that reads back to x in `dtype`, written as NumPy's str writes it (Python's repr
  // for a float64): what `scratchnet export --format txt` writes for the same number.
  function shortest(x, dtype) {
    const abs = Math.abs(x);
    let digits, exp;
    if (dtype === 'float32' && abs !== 0) {
      ({ digits, exp } = float32Digits(abs));
    } else {  // float64: the shortest digits that read back, ties to even (ECMAScript's Number::toString)
      const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(abs.toExponential());
      digits = (m[1] + (m[2] || '')).replace(/0+$/, '') || '0';
      exp = Number(m[3]);
    }
    const sign = x < 0 || Object.is(x, -0) ? '-' : '';
    // positional from 1e-4 up to 1e16 (a float32: 1e6, and by its value, as NumPy decides), else scientific
    if (dtype === 'float32' ? abs === 0 || (abs >= 1e-4 && abs < 1e6) : exp >= -4 && exp < 16) {
      if (exp < 0) return sign + '0.' + '0'.repeat(-exp - 1) + digits;
      const whole = digits.length > exp + 1 ? digits.slice(0, exp + 1) : digits.padEnd(exp + 1, '0');
      return sign + whole + '.' + (digits.slice(exp + 1) || '0');
    }
    const e = Math.abs(exp);
    return sign + digits[0] + (digits.length > 1 ? '.' + digits.slice(1) : '') + 'e' + (exp < 0 ? '-' : '+') +
      (e < 10 ? '0' : '') + e;
  }
  const exact = (x) => shortest(x, 'float64');  // a value the page computed (float64)
  const param = (x) => shortest(x, net.dtype);  // a parameter of the network, in its dtype
  const sig3 = (x) => String(Number(x.toPrecision(3)));
  const percent = (x) => (100 * x).toFixed(2) + '%';
  const thousands = (n) => n.toLocaleString('en-US');

  // ---------------------------------------------------------------------------------------------
  // the network and its forward pass: network.py's layout, z = a @ W + b, in float64

  function makeNet(nd) {
    return {
      sizes: nd.sizes.slice(), hidden: nd.hidden, output: nd.output, dtype: nd.dtype,
      W: nd.weights.map((w) => Float64Array.from(w)),  // W[l][i * sizes[l+1] + j]: input i -> neuron j
      b: nd.biases.map((b) => Float64Array.from(b)),
    };
  }

  // forward(nt, x): {activations (inputs first), zs, outputs}; learn.js holds the network's math
  const Learn = window.ScratchnetLearn, forward = Learn.forward;

  function inputsOf(pixels) {
    const x = new Float64Array(pixels.length);
    for (let i = 0; i < x.length; i++) x[i] = pixels[i] * INV255;
    return x;
  }

  function maxAbs(v) {
    let m = 0;
    for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
    return m;
  }

  function argmax(v) {  // the first of equal largest, as np.argmax
    let best = 0;
    for (let j = 1; j < v.length; j++) if (v[j] > v[best]) best = j;
    return best;
  }

  function p99(values) {  // |value| at which colours saturate: a few outliers do not wash out the rest
    const mags = Float64Array.from(values, Math.abs).sort();
    if (!mags.length) return 1;
    return mags[Math.floor(0.99 * (mags.length - 1))] || mags[mags.length - 1] || 1;  // mostly zeros: the largest
  }

  // Which connections are drawn. Up to MAX_LINES in all: every one. Above, svg.py's budget split: the
  // budget is shared evenly by the layers, a layer with fewer connections than its share keeps them
  // all and leaves the rest to the others; then each neuron of a thinned layer keeps its k strongest
  // incoming connections by |w|, k its layer's share divided by its neurons.
  function thinning(nt) {
    const L = nt.W.length, counts = nt.W.map((_, l) => nt.sizes[l] * nt.sizes[l + 1]);
    const keep = counts.slice();
    if (counts.reduce((s, c) => s + c, 0) > MAX_LINES) {
      let left = MAX_LINES;
      [...counts.keys()].sort((p, q) => counts[p] - counts[q]).forEach((l, n) => {
        keep[l] = Math.min(counts[l], Math.floor(left / (L - n)));
        left -= keep[l];
      });
    }
    return counts.map((count, l) => {
      const nIn = nt.sizes[l], nOut = nt.sizes[l + 1], W = nt.W[l];
      if (keep[l] >= count) {
        const from = new Int32Array(count), to = new Int32Array(count);
        for (let e = 0; e < count; e++) { from[e] = Math.floor(e / nOut); to[e] = e % nOut; }
        return { count, k: null, from, to, shade: new Uint8Array(count) };
      }
      const k = Math.max(1, Math.floor(keep[l] / nOut));
      const from = new Int32Array(k * nOut), to = new Int32Array(k * nOut), order = new Int32Array(nIn);
      const mag = new Float64Array(nIn);
      for (let j = 0; j < nOut; j++) {
        for (let i = 0; i < nIn; i++) { mag[i] = Math.abs(W[i * nOut + j]); order[i] = i; }
        order.sort((p, q) => mag[q] - mag[p] || p - q);
        for (let t = 0; t < k; t++) { from[j * k + t] = order[t]; to[j * k + t] = j; }
      }
      return { count, k, from, to, shade: new Uint8Array(k * nOut) };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // state

  let net = makeNet(DATA.network);
  let netVersion = SERVER ? DATA.network_version : null;  // the server's version of the parameters shown
  let history = DATA.history.slice();
  let epochsDone = DATA.epochs_done;
  let edges = thinning(net);
  let scales = net.W.map(p99);  // |w| at full colour, per layer
  const L = net.W.length;
  const nOutputs = net.sizes[L];
  const side = Math.round(Math.sqrt(net.sizes[0]));
  const square = side * side === net.sizes[0] && side >= 4;  // inputs drawn as a picture
  const drawable = net.sizes[0] === 784;  // the pad makes 28x28 inputs

  const state = {
    source: 'none',  // 'pad', 'test', 'train', 'picture' (a file dropped or pasted), 'dream' or 'none'
    pixels: null,  // Uint8Array of the input's pixels (0..255)
    x: null,  // a dream's inputs (numbers in [0, 1], no pixels), else null
    result: null,  // forward(): activations (inputs first), zs, outputs
    message: drawable ? 'Draw a digit in the box above.'
      : `This network takes ${net.sizes[0]} inputs: the pad makes 784.`,
    testIndex: 0,
  };
  let mode = 'contribution';  // how connections are coloured
  let training = false;  // the server is training: the test set is evaluated after each epoch, not each update
  let hover = null, selected = null;  // hit-test results: {kind: 'pixel'|'neuron'|'weight', layer, i, j}
  let cursor = { layer: 1, j: 0 };  // the keyboard's neuron
  const edits = [];  // {target, before, after}
  const test = { count: 0, rows: 28, cols: 28, images: null, labels: null, pred: null, conf: null, confusion: null,
    accuracy: null, note: '', generation: 0 };

  function setText(el, text) {  // only a real change costs a layout
    if (el.textContent !== text) el.textContent = text;
  }

  function notice(text) {
    const el = $('notice');
    el.textContent = text;
    el.hidden = !text;
  }

  // ---------------------------------------------------------------------------------------------
  // the frame: every change asks for one; the work is done once per frame (requestAnimationFrame)

  const dirty = { pixels: false, forward: false, edges: true, nodes: true, overlay: true };
  let framePending = false;
  // pointer events waiting for their frame; per event, ms from it to its frame rendered (samples), to the
  // frame's start (waits), and the frame's own work (works)
  const perf = { pending: [], samples: [], waits: [], works: [] };
  const frameDone = new MessageChannel();  // a message posted in a frame arrives once it is rendered
  frameDone.port1.onmessage = (m) => {
    const now = performance.now();
    for (const t of m.data) perf.samples.push(now - t);
  };

  function schedule(what) {
    Object.assign(dirty, what);
    if (!framePending) {
      framePending = true;
      requestAnimationFrame(frame);
    }
  }

  function frame() {
    const began = performance.now();
    framePending = false;
    if (dirty.pixels) readInput();
    if (dirty.pixels || dirty.forward) {
      state.result = state.pixels || state.x ? forward(net, currentInputs()) : null;
      drawInput28();
      showScores();
      showNeuron();
      dirty.nodes = dirty.overlay = true;
      if (mode === 'contribution') dirty.edges = true;
    }
    if (dirty.edges) drawEdges();
    if (dirty.nodes) drawNodes();
    if (dirty.overlay) drawOverlay();
    dirty.pixels = dirty.forward = dirty.edges = dirty.nodes = dirty.overlay = false;
    if (perf.pending.length) {
      const work = performance.now() - began;
      for (const t of perf.pending) { perf.waits.push(began - t); perf.works.push(work); }
      frameDone.port2.postMessage(perf.pending);
      perf.pending = [];
    }
  }

  // ---------------------------------------------------------------------------------------------
  // the drawing pad: strokes of pointer events (mouse, pen, touch), undo per stroke

  const pad = $('pad');
  const padCtx = pad.getContext('2d', { willReadFrequently: true });
  const strokes = [];
  let stroke = null;
  let dreaming = null;  // a dream being drawn on the pad (see "dream a digit")

  function padPoint(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * PAD / r.width, (e.clientY - r.top) * PAD / r.height];
  }

  function ink(from, to) {
    padCtx.beginPath();
    padCtx.moveTo(from[0], from[1]);
    padCtx.lineTo(to[0], to[1]);
    padCtx.stroke();
  }

  function replayPad() {  // the same segments in the same order as they were drawn: the same pixels
    padCtx.fillStyle = '#000';
    padCtx.fillRect(0, 0, PAD, PAD);
    padCtx.strokeStyle = '#fff';
    padCtx.lineWidth = INK;
    padCtx.lineCap = padCtx.lineJoin = 'round';
    for (const s of strokes) for (let k = 0; k < s.length; k++) ink(s[Math.max(0, k - 1)], s[k]);
  }

  function padChanged(e) {
    if (e) perf.pending.push(e.timeStamp);
    if (dreaming) {  // the pen takes the pad back from a dream
      dreaming.cancelled = true;
      dreaming = null;
    }
    if (e && (state.source === 'picture' || state.source === 'dream')) {  // drawing over a picture or a dream: a new drawing
      strokes.splice(0, strokes.length - 1);
      replayPad();
    }
    inputChanged();
    state.source = strokes.length ? 'pad' : 'none';
    if (!strokes.length) state.message = 'Draw a digit in the box above.';
    schedule({ pixels: true });
  }

  pad.addEventListener('pointerdown', (e) => {
    if (!drawable || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    const p = padPoint(e);
    stroke = [p];
    strokes.push(stroke);
    ink(p, p);
    padChanged(e);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!stroke) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const c of events.length ? events : [e]) {
      const p = padPoint(c);
      ink(stroke[stroke.length - 1], p);
      stroke.push(p);
    }
    padChanged(e);
  });
  const endStroke = () => {
    if (!stroke) return;
    stroke = null;
    announce();
  };
  pad.addEventListener('pointerup', endStroke);
  pad.addEventListener('pointercancel', endStroke);

  function undo() {
    strokes.pop();
    replayPad();
    padChanged(null);
    requestAnimationFrame(announce);
  }
  function clearPad() {
    strokes.length = 0;
    replayPad();
    padChanged(null);
    requestAnimationFrame(announce);
  }
  $('undo').addEventListener('click', undo);
  $('clear').addEventListener('click', clearPad);
  document.addEventListener('keydown', (e) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
    if ((e.ctrlKey || e.metaKey) && e.key === 'z' && !typing) { e.preventDefault(); undo(); }
  });

  function readInput() {
    if (state.source !== 'dream') state.x = null;
    if (state.source === 'pad') {
      try {  // preprocess.js: the command line's preprocessing, in JavaScript
        state.pixels = window.ScratchnetPreprocess.toMnist(padCtx.getImageData(0, 0, PAD, PAD).data, PAD, PAD);
        state.message = 'Your drawing, preprocessed.';
      } catch (err) {  // a blank pad: preprocess.js says so in one line ("image: no digit found: ...")
        state.pixels = null;
        state.message = String(err.message || err).replace(/^image: /, '');
      }
    } else if (state.source === 'test') {
      const n = test.rows * test.cols, k = state.testIndex;
      state.pixels = test.images.subarray(k * n, (k + 1) * n);
      state.message = `Test image #${k} (label ${test.labels[k]}).`;
    } else if (state.source === 'none') {
      state.pixels = null;
    }  // 'train', 'picture' and 'dream' set their pixels (or x) and message themselves
    setText($('source'), state.message);
  }

  const input28 = $('input28');
  function drawInput28() {
    const ctx = input28.getContext('2d');
    const img = ctx.createImageData(28, 28);
    const shown = state.pixels || state.x;
    if (shown && shown.length === 784) {
      for (let i = 0; i < 784; i++) {
        const v = state.pixels ? state.pixels[i] : Math.round(255 * state.x[i]);
        img.data.set([v, v, v, 255], i * 4);
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // the ten scores

  const scoreRows = [];
  for (let j = 0; j < nOutputs; j++) {
    const li = document.createElement('li');
    li.innerHTML = `<span>${j}</span><span class="bar"><span></span></span><span class="v"></span>`;
    $('scores').appendChild(li);
    scoreRows.push(li);
  }

  function showScores() {
    const out = state.result && state.result.outputs;
    const top = out ? argmax(out) : -1;
    scoreRows.forEach((li, j) => {
      li.classList.toggle('top', j === top);
      li.children[1].firstChild.style.transform = `scaleX(${out ? clamp(out[j], 0, 1) : 0})`;  // no layout
      setText(li.children[2], out ? sig3(out[j]) : '');
      li.title = out ? `output ${j} = ${exact(out[j])}` : '';
    });
  }

  function announce() {  // once a stroke ends, not every frame: screen readers hear the answer once
    const out = state.result && state.result.outputs;
    if (!out) {
      $('answer').textContent = state.source === 'none' ? '' : state.message;
      return;
    }
    const top = argmax(out);
    $('answer').textContent = `Prediction: ${top} (confidence ${sig3(out[top])})`;
  }

  // ---------------------------------------------------------------------------------------------
  // the network view: three stacked canvases (connections, neurons, highlights)

  const wrap = $('net-wrap'), edgeCanvas = $('edges'), nodeCanvas = $('nodes'), overlay = $('overlay');
  const view = { w: 0, h: 0, dpr: 1, X: [], Y: [], R: [], step: [], grid: null };

  function layout() {
    const w = Math.max(240, wrap.clientWidth), h = Math.round(clamp(w * 0.62, 300, 640));
    const dpr = window.devicePixelRatio || 1;
    wrap.style.height = h + 'px';
    for (const c of [edgeCanvas, nodeCanvas, overlay]) {
      c.width = Math.round(w * dpr * resolution(c));
      c.height = Math.round(h * dpr * resolution(c));
      c.style.width = w + 'px';
      c.style.height = h + 'px';
    }
    Object.assign(view, { w, h, dpr, X: [], Y: [], R: [], step: [] });
    const margin = 10, labels = nOutputs <= 20 ? 80 : 10;
    let left;
    if (square) {
      const s = Math.min(h - 2 * margin, w * 0.34), cell = s / side, y0 = (h - s) / 2;
      view.grid = { x: margin, y: y0, size: s, cell };
      const X = new Float64Array(net.sizes[0]), Y = new Float64Array(net.sizes[0]);
      for (let i = 0; i < X.length; i++) {
        X[i] = margin + (i % side + 0.5) * cell;
        Y[i] = y0 + (Math.floor(i / side) + 0.5) * cell;
      }
      view.X.push(X); view.Y.push(Y); view.R.push(cell / 2); view.step.push(cell);
      left = margin + s;
    } else {
      view.grid = null;
      left = margin;
    }
    const columns = square ? L : L + 1, right = w - labels - 12;
    for (let c = 0; c < columns; c++) {
      const l = square ? c + 1 : c, n = net.sizes[l];
      const x = square ? left + (right - left) * (c + 1) / columns
        : left + (right - left) * c / Math.max(1, columns - 1) + 8;
      const top = margin + 6, step = (h - 2 * top) / n;
      const X = new Float64Array(n).fill(x), Y = new Float64Array(n);
      for (let j = 0; j < n; j++) Y[j] = top + (j + 0.5) * step;
      view.X.push(X); view.Y.push(Y); view.R.push(clamp(step * 0.42, 0.5, 9)); view.step.push(step);
    }
    schedule({ edges: true, nodes: true, overlay: true });
  }

  // A thinned network's 20,000 lines are drawn at half resolution: a third of the time, a little softer.
  const resolution = (c) => (c === edgeCanvas && edges.some((E) => E.k !== null) ? 0.5 : 1);

  function context(c) {
    const ctx = c.getContext('2d');
    ctx.setTransform(view.dpr * resolution(c), 0, 0, view.dpr * resolution(c), 0, 0);
    ctx.clearRect(0, 0, view.w, view.h);
    return ctx;
  }

  const rgb = (c, alpha = 1) => `rgba(${c[0] | 0},${c[1] | 0},${c[2] | 0},${alpha})`;
  function diverge(t) {  // t in [-1, 1]: blue, dark at 0, orange
    const c = t < 0 ? NEG : POS, u = Math.min(1, Math.abs(t));
    return [ZERO[0] + (c[0] - ZERO[0]) * u, ZERO[1] + (c[1] - ZERO[1]) * u, ZERO[2] + (c[2] - ZERO[2]) * u];
  }

  // The activations of layer l (0: the inputs) and the value they reach at full brightness.
  function activationRange(l) {
    const r = shownResult(), a = r ? r.activations[l] : null;
    const name = l === 0 ? 'input' : l < L ? net.hidden : net.output;
    if (name !== 'relu') return { a, name, lo: name === 'tanh' ? -1 : 0, hi: 1 };
    let hi = 0;
    if (a) for (let j = 0; j < a.length; j++) hi = Math.max(hi, a[j]);
    return { a, name, lo: 0, hi: hi || 1 };
  }

  // |value| at which layer l's connections reach full colour: its weights' 99th percentile, times
  // the largest activation that can feed them when colouring contributions.
  function edgeScale(l) {
    return mode === 'weight' ? scales[l] : scales[l] * Math.max(Math.abs(activationRange(l).lo), activationRange(l).hi);
  }

  // What colours layer l's connections: value = W[i, j] * a[i] * d[j] (a missing factor is 1), full
  // colour at |value| = scale, values below `faint` shades not drawn; null: none drawn.
  function edgeSpec(l) {
    if (learnView()) return learnEdgeSpec(l);
    if (mode === 'weight') return { W: net.W[l], a: null, d: null, scale: edgeScale(l), faint: 0 };
    const a = activationRange(l).a;
    return a ? { W: net.W[l], a, d: null, scale: edgeScale(l), faint: FAINT } : null;
  }

  function drawEdges() {
    const ctx = context(edgeCanvas);
    for (let l = 0; l < L; l++) {
      const E = edges[l], nOut = net.sizes[l + 1], n = E.from.length;
      const spec = edgeSpec(l);
      E.shade.fill(0);
      if (!spec) continue;
      const { W, a, d, faint } = spec, s = spec.scale || 1;
      const X0 = view.X[l], Y0 = view.Y[l], X1 = view.X[l + 1], Y1 = view.Y[l + 1];
      const starts = new Int32Array(2 * LEVELS + 2);  // lines of each shade, then where each shade begins
      for (let e = 0; e < n; e++) {
        const i = E.from[e], j = E.to[e], v = (W ? W[i * nOut + j] : 1) * (a ? a[i] : 1) * (d ? d[j] : 1);
        const level = Math.min(LEVELS, Math.round(Math.abs(v) / s * LEVELS));
        if (level > faint) E.shade[e] = v < 0 ? level : LEVELS + level;
        starts[E.shade[e] + 1]++;
      }
      const visible = n - starts[1];
      for (let c = 1; c < starts.length; c++) starts[c] += starts[c - 1];
      const order = new Int32Array(n), next = starts.slice();
      for (let e = 0; e < n; e++) order[next[E.shade[e]]++] = e;
      // Overlapping lines add up: the more there are, the fainter each. Lines thinner than a pixel are
      // drawn several times faster than wider ones (the frame's largest cost): only the strongest few
      // of a sparse layer are wider.
      const crowd = 200 / Math.max(visible, 1), alpha = clamp(0.9 * crowd ** 0.12, 0.35, 0.95);
      const sparse = visible <= 1000;
      // lines from the input picture start at its edge: the picture covers the rest (less to rasterise)
      const edge = l === 0 && view.grid ? view.grid.x + view.grid.size : -Infinity;
      for (let level = 1; level <= LEVELS; level++) {  // weakest first: the strongest on top
        for (const code of [level, LEVELS + level]) {
          if (starts[code] === starts[code + 1]) continue;
          ctx.beginPath();
          for (let k = starts[code]; k < starts[code + 1]; k++) {
            const e = order[k], x0 = X0[E.from[e]], y0 = Y0[E.from[e]], x1 = X1[E.to[e]], y1 = Y1[E.to[e]];
            if (x0 < edge) ctx.moveTo(edge, y0 + (y1 - y0) * (edge - x0) / (x1 - x0));
            else ctx.moveTo(x0, y0);
            ctx.lineTo(x1, y1);
          }
          ctx.strokeStyle = rgb(code > LEVELS ? POS : NEG, alpha * level / LEVELS);
          ctx.lineWidth = sparse && level > 10 ? 0.9 + 0.2 * (level - 10) : 0.5 + 0.4 * level / LEVELS;
          ctx.stroke();
        }
      }
    }
  }

  const gridImage = document.createElement('canvas');
  gridImage.width = gridImage.height = Math.max(side, 1);

  function drawNodes() {
    const ctx = context(nodeCanvas);
    if (view.grid) {  // the inputs as the picture they are
      const g = view.grid, gctx = gridImage.getContext('2d'), img = gctx.createImageData(side, side);
      const r = shownResult(), a = r ? r.activations[0] : null;
      for (let i = 0; i < side * side; i++) {
        const v = a ? Math.round(255 * a[i]) : 0;
        img.data.set([v, v, v, 255], i * 4);
      }
      gctx.putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(gridImage, g.x, g.y, g.size, g.size);
      ctx.strokeStyle = '#4a505c';
      ctx.lineWidth = 1;
      ctx.strokeRect(g.x - 0.5, g.y - 0.5, g.size + 1, g.size + 1);
    }
    const shown = shownResult(), top = shown ? argmax(shown.outputs) : -1;
    for (let l = view.grid ? 1 : 0; l <= L; l++) {
      const { a, lo, hi } = activationRange(l), X = view.X[l], Y = view.Y[l], r = view.R[l], n = X.length;
      const b = l ? shownNet().b[l - 1] : null, bs = b ? maxAbs(b) || 1 : 1;
      const error = l ? learnNodeValues(l) : null;  // the learn view's: each neuron's error or change
      for (let j = 0; j < n; j++) {
        const t = a ? clamp((a[j] - lo) / (hi - lo), 0, 1) : 0, g = Math.round(30 + 225 * t);
        ctx.fillStyle = error ? rgb(diverge(error.values[j] / error.scale)) : a ? `rgb(${g},${g},${g})` : '#000';
        if (r >= 2) {
          ctx.beginPath();
          ctx.arc(X[j], Y[j], r, 0, 2 * Math.PI);
          ctx.fill();
          ctx.strokeStyle = b ? rgb(diverge(b[j] / bs)) : '#4a505c';
          ctx.lineWidth = clamp(r * 0.3, 1, 2.5);
          ctx.stroke();
        } else {  // a crowded column: a short bar per neuron
          ctx.fillRect(X[j] - 4, Y[j] - view.step[l] / 2, 8, Math.max(view.step[l], 0.5));
        }
      }
      if (l === L && nOutputs <= 20) {
        ctx.font = `${clamp(r * 1.4, 10, 14)}px system-ui, sans-serif`;
        ctx.textBaseline = 'middle';
        for (let j = 0; j < n; j++) {
          ctx.fillStyle = j === top ? rgb(POS) : '#c8ccd4';
          ctx.fillText(String(j) + (a ? '  ' + outputLabel(j, a) : ''), X[j] + r + 6, Y[j]);
        }
      }
    }
  }

  function drawOverlay() {
    const ctx = context(overlay);
    const mark = (hit, colour, width) => {
      if (!hit) return;
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      if (hit.kind === 'weight') {
        ctx.beginPath();
        ctx.moveTo(view.X[hit.layer][hit.i], view.Y[hit.layer][hit.i]);
        ctx.lineTo(view.X[hit.layer + 1][hit.j], view.Y[hit.layer + 1][hit.j]);
        ctx.stroke();
      } else if (hit.kind === 'pixel') {
        const c = view.grid.cell;
        ctx.strokeRect(view.X[0][hit.i] - c / 2, view.Y[0][hit.i] - c / 2, c, c);
      } else {
        ctx.beginPath();
        ctx.arc(view.X[hit.layer][hit.j], view.Y[hit.layer][hit.j], Math.max(view.R[hit.layer], 3) + 3, 0, 2 * Math.PI);
        ctx.stroke();
      }
    };
    mark(selected, getComputedStyle(document.documentElement).getPropertyValue('--focus').trim() || '#ffd400', 3);
    if (hover && hover.kind === 'weight') {
      const v = shownNet().W[hover.layer][hover.i * net.sizes[hover.layer + 1] + hover.j];
      mark(hover, '#fff', 5);
      mark(hover, rgb(v < 0 ? NEG : POS), 3);
    } else {
      mark(hover, '#fff', 2);
    }
    if (document.activeElement === overlay && !hover) {
      ctx.setLineDash([3, 3]);
      mark({ kind: 'neuron', layer: cursor.layer, j: cursor.j }, '#ffd400', 2);
      ctx.setLineDash([]);
    }
  }

  // What is at (x, y) in the view's pixels: an input pixel, a neuron, or the nearest connection drawn
  // (within tol pixels; nearly as near, the more strongly drawn one).
  function hitTest(x, y, tol) {
    const g = view.grid;
    if (g && x >= g.x && y >= g.y && x < g.x + g.size && y < g.y + g.size) {
      return { kind: 'pixel', layer: 0, i: Math.floor((y - g.y) / g.cell) * side + Math.floor((x - g.x) / g.cell) };
    }
    for (let l = g ? 1 : 0; l <= L; l++) {
      const X = view.X[l], Y = view.Y[l], step = view.step[l];
      if (Math.abs(x - X[0]) > Math.max(view.R[l] + 2, 6)) continue;
      const j = clamp(Math.round((y - Y[0]) / step), 0, X.length - 1);
      if (Math.abs(y - Y[j]) <= Math.max(view.R[l] + 2, step / 2)) return { kind: 'neuron', layer: l, j };
    }
    let best = null, bestD = Infinity, bestShade = 0;
    for (let l = 0; l < L; l++) {
      const E = edges[l], X0 = view.X[l], Y0 = view.Y[l], X1 = view.X[l + 1], Y1 = view.Y[l + 1];
      if (x < X0[0] - tol - (view.grid && l === 0 ? view.grid.size : 0) || x > X1[0] + tol) continue;
      for (let e = 0; e < E.from.length; e++) {
        const shade = E.shade[e];
        if (!shade) continue;
        const x0 = X0[E.from[e]], y0 = Y0[E.from[e]], dx = X1[E.to[e]] - x0, dy = Y1[E.to[e]] - y0;
        const t = clamp(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1);
        const d = Math.hypot(x - x0 - t * dx, y - y0 - t * dy);
        const strength = shade > LEVELS ? shade - LEVELS : shade;
        if (d <= tol && (d < bestD - 0.75 || (d < bestD + 0.75 && strength > bestShade))) {
          best = { kind: 'weight', layer: l, i: E.from[e], j: E.to[e] };
          bestD = d;
          bestShade = strength;
        }
      }
    }
    return best;
  }

  const same = (p, q) => !!p && !!q && p.kind === q.kind && p.layer === q.layer && p.i === q.i && p.j === q.j;

  function layerName(l) {
    return l === 0 ? 'the inputs' : l === L ? `layer ${l} (outputs)` : `layer ${l} (hidden)`;
  }
  function sourceName(l, i) {
    return l === 0 ? (square ? `pixel ${i} (row ${Math.floor(i / side)}, column ${i % side})` : `input ${i}`)
      : `neuron ${i} of layer ${l}`;
  }

  // The exact numbers behind what the pointer is on, one fact a line.
  function describe(hit) {
    const text = describeLive(hit), more = learnView() ? learnDescribe(hit) : [];
    return more.length ? text + '\n' + more.join('\n') : text;
  }

  function describeLive(hit) {
    const r = shownResult(), net = shownNet();
    if (hit.kind === 'pixel' || (hit.kind === 'neuron' && hit.layer === 0)) {
      const i = hit.kind === 'pixel' ? hit.i : hit.j;
      const lines = [sourceName(0, i)];
      if (state.pixels && !learnView()) lines.push(`x[${i}] = ${state.pixels[i]} × (1/255) = ${exact(r.activations[0][i])}`);
      else if (r) lines.push(`x[${i}] = ${exact(r.activations[0][i])}`);
      return lines.join('\n');
    }
    if (hit.kind === 'neuron') {
      const l = hit.layer, j = hit.j, b = net.b[l - 1][j];
      const lines = [`b[${l - 1}][${j}] = ${param(b)}`,
        `neuron ${j} of ${layerName(l)}${l === L ? `: the score of ${j}` : ''}`];
      const f = l === L ? net.output : net.hidden;
      if (r) lines.push(`z = ${exact(r.zs[l - 1][j])}   a = ${f}(z) = ${exact(r.activations[l][j])}`);
      return lines.join('\n');
    }
    const l = hit.layer, w = net.W[l][hit.i * net.sizes[l + 1] + hit.j];
    const lines = [`w[${l}][${hit.i}→${hit.j}] = ${param(w)}`,
      `from ${sourceName(l, hit.i)} to neuron ${hit.j} of ${layerName(l + 1)}`];
    if (r) {
      const a = r.activations[l][hit.i];
      lines.push(`contribution w·a = ${param(w)} × ${exact(a)} = ${exact(w * a)}`);
    }
    return lines.join('\n');
  }

  const tip = $('tip');
  function setHover(hit, x, y) {
    const changed = !same(hit, hover);
    hover = hit;
    if (hit) {
      const text = describe(hit);
      if (changed) $('info').textContent = text.replace(/\n/g, ' · ');
      tip.textContent = text;
      tip.hidden = false;
      const tw = tip.offsetWidth, th = tip.offsetHeight;
      tip.style.left = clamp(x + 14, 0, Math.max(0, view.w - tw)) + 'px';
      tip.style.top = (y + 14 + th > view.h ? Math.max(0, y - th - 10) : y + 14) + 'px';
    } else {
      tip.hidden = true;
    }
    if (changed) schedule({ overlay: true });
  }

  function viewPoint(e) {
    const r = overlay.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }
  const tolerance = (e) => (e.pointerType === 'touch' ? 14 : 6);

  overlay.addEventListener('pointermove', (e) => {
    const [x, y] = viewPoint(e);
    setHover(hitTest(x, y, tolerance(e)), x, y);
  });
  // A press shows what a hover would; a press released where it began (a click, a tap) opens what is
  // there. Not the click event: after a tap, browsers may hold it back or drop it.
  let press = null;
  overlay.addEventListener('pointerdown', (e) => {
    const [x, y] = viewPoint(e);
    press = { id: e.pointerId, x, y };
    setHover(hitTest(x, y, tolerance(e)), x, y);
  });
  overlay.addEventListener('pointerup', (e) => {
    const [x, y] = viewPoint(e);
    const still = press && press.id === e.pointerId && Math.hypot(x - press.x, y - press.y) < 8;
    const hit = still ? hitTest(x, y, tolerance(e)) : null;
    press = null;
    if (hit) select(hit);
  });
  overlay.addEventListener('pointerleave', () => setHover(null, 0, 0));
  overlay.addEventListener('keydown', (e) => {
    const first = view.grid ? 1 : 0;
    const moves = { ArrowUp: [0, -1], ArrowDown: [0, 1], PageUp: [0, -10], PageDown: [0, 10],
      ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
    if (moves[e.key]) {
      e.preventDefault();
      const [dl, dj] = moves[e.key];
      const layer = clamp(cursor.layer + dl, first, L);
      cursor = { layer, j: clamp(cursor.j + dj, 0, net.sizes[layer] - 1) };
      const hit = { kind: 'neuron', layer, j: cursor.j };
      setHover(hit, view.X[layer][cursor.j], view.Y[layer][cursor.j]);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      select({ kind: 'neuron', layer: cursor.layer, j: cursor.j });
    } else if (e.key === 'Escape') {
      setHover(null, 0, 0);
    }
  });
  overlay.addEventListener('focus', () => schedule({ overlay: true }));
  overlay.addEventListener('blur', () => { setHover(null, 0, 0); schedule({ overlay: true }); });

  function select(hit) {
    if (hit.kind === 'pixel' || hit.layer === 0 && hit.kind === 'neuron') return;
    selected = hit;
    if (hit.kind === 'neuron') {
      cursor = { layer: hit.layer, j: hit.j };
      setEditTarget({ kind: 'bias', layer: hit.layer - 1, j: hit.j });
      showNeuron();
    } else {
      setEditTarget({ kind: 'weight', layer: hit.layer, i: hit.i, j: hit.j });
    }
    schedule({ overlay: true });
  }

  // ---------------------------------------------------------------------------------------------
  // the legend and the thinning rule

  function gradientCanvas(stops) {
    const c = document.createElement('canvas');
    c.width = 120; c.height = 12;
    const ctx = c.getContext('2d'), g = ctx.createLinearGradient(0, 0, 120, 0);
    stops.forEach((s, k) => g.addColorStop(k / (stops.length - 1), s));
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, 120, 12);
    c.setAttribute('aria-hidden', 'true');
    return c;
  }

  function showLegend() {
    const el = $('legend');
    el.textContent = '';
    const item = (before, canvas, after) => {
      const span = document.createElement('span');
      span.append(before, canvas, after);
      el.appendChild(span);
    };
    if (learnView()) {
      learnLegend(item);
      return;
    }
    const what = mode === 'weight' ? 'weight w' : 'contribution w·a';
    const at = net.W.map((_, l) => {  // a relu layer's scale follows this input's largest activation
      const relu = mode === 'contribution' && l && net.hidden === 'relu';
      const scale = relu ? `${sig3(scales[l])} × its largest a` : sig3(edgeScale(l));
      return `${scale} (${l ? 'layer ' + l : 'inputs'} → layer ${l + 1})`;
    }).join(', ');
    item(`Connections (${what}): −`, gradientCanvas([rgb(NEG), rgb(ZERO), rgb(POS)]),
      `+ blue pushes the next neuron down, orange up; full colour at |${mode === 'weight' ? 'w' : 'w·a'}| = ${at}`);
    item('Neurons: activation 0', gradientCanvas(['rgb(30,30,30)', '#fff']),
      net.hidden === 'relu' ? '1 (relu: its layer’s largest)' : '1');
    item('Ring: bias −', gradientCanvas([rgb(NEG), rgb(ZERO), rgb(POS)]), '+');
    const rules = edges.map((E, l) => E.k === null ? null
      : `${l} → ${l + 1}: the ${E.k} strongest incoming connections (by |w|) of each neuron, ` +
        `${thousands(E.from.length)} of ${thousands(E.count)}`)
      .filter(Boolean);
    const total = edges.reduce((s, E) => s + E.count, 0);
    $('thinning').textContent = rules.length
      ? `Too many connections to draw (${thousands(total)}): up to ${thousands(MAX_LINES)} are shown. ` +
        `Layer ${rules.join('; layer ')}. Neurons are never thinned.`
      : `All ${thousands(total)} connections are drawn.` + (mode === 'contribution'
        ? ' A connection whose input is 0 adds nothing and is not drawn, nor one below ' +
          `${Math.round(100 * (FAINT + 0.5) / LEVELS)}% of full colour (too faint to see).` : '');
  }

  $('edge-mode').addEventListener('change', (e) => {
    mode = e.target.value;
    setHover(null, 0, 0);
    showLegend();
    schedule({ edges: true, overlay: true });
  });

  // ---------------------------------------------------------------------------------------------
  // a neuron opened: its incoming weights and what this input's pixels do to it

  function tileShape(n) {
    if (n === side * side && square) return [side, side];
    const cols = Math.ceil(Math.sqrt(n));
    return [Math.ceil(n / cols), cols];
  }

  function paintTile(canvas, values, scale, px) {
    const [rows, cols] = tileShape(values.length);
    canvas.width = cols;
    canvas.height = rows;
    if (px) { canvas.style.width = cols * px + 'px'; canvas.style.height = rows * px + 'px'; }
    const ctx = canvas.getContext('2d'), img = ctx.createImageData(cols, rows);
    for (let i = 0; i < values.length; i++) img.data.set([...diverge(values[i] / scale), 255], i * 4);
    ctx.putImageData(img, 0, 0);
  }

  function incoming(l, j) {  // weights into neuron j of layer l (1-based layers of neurons)
    const nOut = net.sizes[l], W = net.W[l - 1], out = new Float64Array(net.sizes[l - 1]);
    for (let i = 0; i < out.length; i++) out[i] = W[i * nOut + j];
    return out;
  }

  function showNeuron() {
    if (!selected || selected.kind !== 'neuron') return;
    const l = selected.layer, j = selected.j, w = incoming(l, j), r = state.result;
    $('neuron-none').hidden = true;
    $('neuron-detail').hidden = false;
    $('neuron-title').textContent =
      `Neuron ${j} of ${layerName(l)}: bias b[${l - 1}][${j}] = ${param(net.b[l - 1][j])}` +
      (r ? `, z = ${exact(r.zs[l - 1][j])}, a = ${exact(r.activations[l][j])}` : '');
    const px = Math.max(2, Math.floor(168 / tileShape(w.length)[1]));
    const ws = maxAbs(w) || 1;
    paintTile($('neuron-weights'), w, ws, px);
    $('neuron-weights').setAttribute('aria-label', `The ${w.length} incoming weights of neuron ${j}`);
    const layout = l === 1 && square ? 'the picture' : 'a grid of the inputs';
    $('neuron-weights-cap').textContent = `Its ${w.length} incoming weights w[${l - 1}][:→${j}], laid out as ` +
      `${layout}: orange where an input excites it, blue where one inhibits it (full colour at ±${sig3(ws)}).`;
    const contrib = new Float64Array(w.length);
    let up = 0, down = 0;
    if (r) {
      const a = r.activations[l - 1];
      for (let i = 0; i < w.length; i++) {
        contrib[i] = w[i] * a[i];
        if (contrib[i] > 0) up += contrib[i]; else down += contrib[i];
      }
    }
    const cs = maxAbs(contrib) || 1;
    paintTile($('neuron-contrib'), contrib, cs, px);
    $('neuron-contrib').setAttribute('aria-label', `What each input of this picture does to neuron ${j}`);
    $('neuron-contrib-cap').textContent = r
      ? `This input's pushes w·a: orange pushes z up (in all +${sig3(up)}), blue down (${sig3(down)}); ` +
        `with the bias, z = ${sig3(r.zs[l - 1][j])}.`
      : 'Draw a digit or pick a test image to see which inputs push this neuron up or down.';
  }

  function tileHover(canvas, what) {
    canvas.addEventListener('pointermove', (e) => {
      if (!selected || selected.kind !== 'neuron') return;
      const rect = canvas.getBoundingClientRect();
      const col = Math.floor((e.clientX - rect.left) / rect.width * canvas.width);
      const row = Math.floor((e.clientY - rect.top) / rect.height * canvas.height);
      const i = row * canvas.width + col, l = selected.layer, j = selected.j;
      if (i < 0 || i >= net.sizes[l - 1] || col >= canvas.width) return;
      const w = net.W[l - 1][i * net.sizes[l] + j], a = state.result ? state.result.activations[l - 1][i] : null;
      $('neuron-info').textContent = `${sourceName(l - 1, i)}: w[${l - 1}][${i}→${j}] = ${param(w)}` +
        (what === 'contrib' && a !== null ? ` · a = ${exact(a)} · w·a = ${exact(w * a)}` : '');
    });
  }
  tileHover($('neuron-weights'), 'weights');
  tileHover($('neuron-contrib'), 'contrib');

  // ---------------------------------------------------------------------------------------------
  // test images: pick one, step through the misclassified, the confusion matrix

  function bytes(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function setTests(t, note) {
    Object.assign(test, { count: t.count, rows: t.rows, cols: t.cols, images: bytes(t.images), labels: bytes(t.labels),
      pred: null, conf: null, confusion: null, accuracy: null, note });
    $('test-index').max = t.count - 1;
    if (t.rows * t.cols !== net.sizes[0]) {
      test.count = 0;
      $('test-info').textContent =
        `The test images have ${t.rows}x${t.cols} pixels; the network takes ${net.sizes[0]} inputs.`;
      return;
    }
    showTest(0, state.source === 'none');  // something to look at until a digit is drawn
  }

  function thumbnail(k, canvas) {
    const n = test.rows * test.cols;
    canvas.width = test.cols;
    canvas.height = test.rows;
    const ctx = canvas.getContext('2d'), img = ctx.createImageData(test.cols, test.rows);
    for (let i = 0; i < n; i++) {
      const v = test.images[k * n + i];
      img.data.set([v, v, v, 255], i * 4);
    }
    ctx.putImageData(img, 0, 0);
    return canvas;
  }

  // Test image k on show, and (use: the default) as the network's input.
  function showTest(k, use = true) {
    if (!test.count) return;
    k = clamp(Math.round(k) || 0, 0, test.count - 1);
    state.testIndex = k;
    $('test-index').value = k;
    thumbnail(k, $('test-img'));
    const n = test.rows * test.cols;
    const out = forward(net, inputsOf(test.images.subarray(k * n, (k + 1) * n))).outputs;
    const p = argmax(out), label = test.labels[k];
    const info = $('test-info');
    info.innerHTML = '';
    const verdict = document.createElement('span');
    verdict.className = p === label ? 'right' : 'wrong';
    verdict.textContent = p === label ? 'right' : 'wrong';
    info.append(`#${k}: label ${label}, prediction ${p} (confidence ${sig3(out[p])}): `, verdict);
    if (use) {
      state.source = 'test';
      schedule({ pixels: true });
      requestAnimationFrame(announce);
    }
  }

  function stepMisclassified(direction) {
    if (!test.pred) {
      $('test-info').textContent = 'The predictions on the test set are still being computed.';
      return;
    }
    for (let s = 1; s <= test.count; s++) {
      const k = ((state.testIndex + direction * s) % test.count + test.count) % test.count;
      if (test.pred[k] !== test.labels[k]) return showTest(k);
    }
    $('test-info').textContent = 'No test image is misclassified.';
  }

  $('test-index').addEventListener('change', (e) => showTest(Number(e.target.value)));
  $('test-prev').addEventListener('click', () => showTest(state.testIndex - 1));
  $('test-next').addEventListener('click', () => showTest(state.testIndex + 1));
  $('miss-prev').addEventListener('click', () => stepMisclassified(-1));
  $('miss-next').addEventListener('click', () => stepMisclassified(1));

  // The predictions in JavaScript (a file), a few hundred images at a time so that the page stays live;
  // a newer network (an edit) cancels an older run.
  function evaluateHere() {
    const generation = ++test.generation, n = test.rows * test.cols;
    const pred = new Int32Array(test.count), conf = new Float64Array(test.count);
    let k = 0;
    const chunk = () => {
      if (generation !== test.generation) return;
      const end = Math.min(test.count, k + 200);
      for (; k < end; k++) {
        const out = forward(net, inputsOf(test.images.subarray(k * n, (k + 1) * n))).outputs;
        pred[k] = argmax(out);
        conf[k] = out[pred[k]];
      }
      if (k < test.count) return setTimeout(chunk, 0);
      const confusion = Array.from({ length: nOutputs }, () => new Array(nOutputs).fill(0));
      let right = 0;
      for (let q = 0; q < test.count; q++) {
        confusion[test.labels[q]][pred[q]]++;
        right += pred[q] === test.labels[q];
      }
      showEvaluation({ predictions: pred, confidence: conf, confusion, accuracy: right / test.count });
    };
    setTimeout(chunk, 0);
  }

  function showEvaluation(ev) {
    Object.assign(test, { pred: ev.predictions, conf: ev.confidence, confusion: ev.confusion, accuracy: ev.accuracy });
    $('test-accuracy').textContent =
      `Accuracy ${percent(ev.accuracy)} on ${thousands(test.count)} test images ${test.note}.`;
    const table = $('confusion');
    table.textContent = '';
    const head = table.insertRow();
    head.appendChild(Object.assign(document.createElement('th'), { textContent: 'true \\ predicted' }));
    for (let c = 0; c < nOutputs; c++) {
      head.appendChild(Object.assign(document.createElement('th'), { textContent: c, scope: 'col' }));
    }
    ev.confusion.forEach((row, r) => {
      const tr = table.insertRow(), total = row.reduce((s, v) => s + v, 0) || 1;
      tr.appendChild(Object.assign(document.createElement('th'), { textContent: r, scope: 'row' }));
      row.forEach((count, c) => {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = count;
        button.className = r === c ? 'diag' : '';
        const t = Math.sqrt(count / total);
        button.style.background = count ? rgb(diverge(r === c ? -t : t)) : '';
        button.setAttribute('aria-label', `true ${r}, predicted ${c}: ${count} image${count === 1 ? '' : 's'}`);
        button.addEventListener('click', () => openCell(r, c));
        tr.insertCell().appendChild(button);
      });
    });
  }

  function openCell(r, c) {
    const box = $('cell-images'), found = [];
    for (let k = 0; k < test.count; k++) if (test.labels[k] === r && test.pred[k] === c) found.push(k);
    box.textContent = '';
    const shown = found.slice(0, 120);
    box.appendChild(Object.assign(document.createElement('p'), {
      textContent: `True ${r}, predicted ${c}: ${found.length} image${found.length === 1 ? '' : 's'}` +
        (found.length > shown.length ? ` (the first ${shown.length} shown)` : '') +
        (found.length ? '. Open one:' : '.'),
    }));
    for (const k of shown) {
      const button = document.createElement('button');
      button.type = 'button';
      button.title = `test image #${k}: confidence ${sig3(test.conf[k])}`;
      button.setAttribute('aria-label', `test image #${k}`);
      button.appendChild(thumbnail(k, document.createElement('canvas')));
      button.addEventListener('click', () => showTest(k));
      box.appendChild(button);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // the server: JSON in and out, errors as one line

  async function api(path, body) {  // body: an object, or JSON text
    const json = typeof body === 'string' ? body : JSON.stringify(body);
    const options = body === undefined ? {}
      : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: json };
    const response = await fetch('api/' + path, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `${path}: ${response.status} ${response.statusText}`);
    return data;
  }

  // Run the async `task` one at a time: a call while it runs, or in the pause after it, runs it once more
  // afterwards, so the last call is always served. The pause lasts `slowdown` times as long as the task took.
  function oneAtATime(task, slowdown = 0) {
    let running = false, wanted = false;
    return async function trigger() {
      wanted = true;
      if (running) return;
      running = true;
      try {
        while (wanted) {
          wanted = false;
          const began = performance.now();
          await task();
          await new Promise((done) => setTimeout(done, slowdown * (performance.now() - began)));
        }
      } finally {
        running = false;
      }
    };
  }

  const refreshEvaluation = oneAtATime(async () => {  // NumPy's view of the server's network
    if (!test.count) return;
    try {
      showEvaluation(await api('evaluation'));
    } catch (err) {
      $('test-accuracy').textContent = err.message;
    }
  });

  function evaluate() {
    if (SERVER) refreshEvaluation(); else if (test.count) evaluateHere();
  }

  // ---------------------------------------------------------------------------------------------
  // editing one parameter

  const layerSelect = $('edit-layer');
  for (let l = 0; l < L; l++) {
    layerSelect.add(new Option(`w[${l}], b[${l}]: into layer ${l + 1}`, l));
  }

  function editTarget() {  // what the form names, checked; a string when it names nothing
    const whole = (id) => ($(id).value.trim() === '' ? NaN : Number($(id).value));
    const kind = $('edit-kind').value, layer = Number(layerSelect.value);
    const i = whole('edit-input'), j = whole('edit-neuron');
    const nIn = net.sizes[layer], nOut = net.sizes[layer + 1];
    if (!Number.isInteger(j) || j < 0 || j >= nOut) return `the neuron must be a whole number from 0 to ${nOut - 1}`;
    if (kind === 'bias') return { kind, layer, j };
    if (!Number.isInteger(i) || i < 0 || i >= nIn) return `the input must be a whole number from 0 to ${nIn - 1}`;
    return { kind, layer, i, j };
  }
  const targetName = (t) => (t.kind === 'bias' ? `b[${t.layer}][${t.j}]` : `w[${t.layer}][${t.i}→${t.j}]`);
  function valueOf(t) {
    return t.kind === 'bias' ? net.b[t.layer][t.j] : net.W[t.layer][t.i * net.sizes[t.layer + 1] + t.j];
  }

  function showEditTarget() {
    const t = editTarget();
    $('edit-input-label').hidden = $('edit-kind').value === 'bias';
    $('edit-current').textContent = typeof t === 'string' ? t : `${targetName(t)} = ${param(valueOf(t))}`;
  }

  function setEditTarget(t) {
    $('edit-kind').value = t.kind;
    layerSelect.value = t.layer;
    if (t.kind === 'weight') $('edit-input').value = t.i;
    $('edit-neuron').value = t.j;
    $('edit-value').value = param(valueOf(t));
    $('edit-error').textContent = '';
    showEditTarget();
  }
  for (const id of ['edit-kind', 'edit-layer', 'edit-input', 'edit-neuron']) {
    $(id).addEventListener('input', showEditTarget);
  }

  function parseValue(text) {  // docs/FORMAT.md's grammar, finite, in the network's dtype
    const s = text.trim();
    if (!NUMBER.test(s)) return `"${text}" is not a number (write it as 0.25, -1e-3, ...)`;
    const v = net.dtype === 'float32' ? Math.fround(Number(s)) : Number(s);
    if (!Number.isFinite(v)) return `${s} is too large for ${net.dtype}`;
    return v;
  }

  // Set one parameter here, and on the server when there is one; the view and the test predictions follow.
  async function setParameter(t, value) {
    const before = valueOf(t);
    if (t.kind === 'bias') net.b[t.layer][t.j] = value;
    else net.W[t.layer][t.i * net.sizes[t.layer + 1] + t.j] = value;
    if (SERVER) {
      try {
        // the value as the shortest decimal, as JSON: JSON.stringify would write -0 as 0
        const where = t.kind === 'bias' ? { kind: 'bias', layer: t.layer, neuron: t.j }
          : { kind: 'weight', layer: t.layer, input: t.i, neuron: t.j };
        const answer = await api('edit', JSON.stringify(where).slice(0, -1) + `,"value":${exact(value)}}`);
        netVersion = answer.version;
      } catch (err) {
        if (t.kind === 'bias') net.b[t.layer][t.j] = before;
        else net.W[t.layer][t.i * net.sizes[t.layer + 1] + t.j] = before;
        throw err;
      }
    }
    networkChanged(t.kind === 'weight' ? t.layer : null);
    return before;
  }

  // After new parameters: `layer` the weights that changed (null: a bias; 'all': everything).
  function networkChanged(layer) {
    if (layer === 'all') {
      scales = net.W.map(p99);
      edges = thinning(net);
    } else if (layer !== null) {
      scales[layer] = p99(net.W[layer]);
      if (edges[layer].k !== null) edges = thinning(net);  // the strongest may be others now
    }
    learnNetworkChanged();
    showEditTarget();
    showLegend();
    showTiles();
    if (state.source === 'test') showTest(state.testIndex, false);
    schedule({ forward: true, edges: true, nodes: true, overlay: true });
    if (!training) evaluate();
  }

  function logEdits() {
    const log = $('edit-log');
    log.textContent = '';
    for (const e of edits) {
      log.appendChild(Object.assign(document.createElement('li'), {
        textContent: `${targetName(e.target)}: ${param(e.before)} → ${param(e.after)}`,
      }));
    }
    $('edit-undo').disabled = !edits.length;
  }

  $('edit-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = editTarget(), v = parseValue($('edit-value').value), error = $('edit-error');
    if (typeof t === 'string' || typeof v === 'string') { error.textContent = typeof t === 'string' ? t : v; return; }
    try {
      const before = await setParameter(t, v);
      edits.push({ target: t, before, after: v });
      error.textContent = '';
      logEdits();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  $('edit-undo').addEventListener('click', async () => {
    const last = edits[edits.length - 1];
    try {
      await setParameter(last.target, last.before);
      edits.pop();
      logEdits();
      setEditTarget(last.target);
    } catch (err) {
      $('edit-error').textContent = err.message;
    }
  });

  // The network in the text format (docs/FORMAT.md), as textformat.to_text writes it.
  function toText() {
    const last = history[history.length - 1];
    const lines = ['scratchnet-params 1',
      '# Every weight and bias of a scratchnet network, exact. Format: docs/FORMAT.md',
      `sizes ${net.sizes.join(' ')}`, `hidden ${net.hidden}`, `output ${net.output}`, `dtype ${net.dtype}`,
      `epochs ${epochsDone}`,
      last ? `# last epoch (${last.epoch}): loss ${last.loss.toFixed(4)}, ` +
        `train accuracy ${(100 * last.train_accuracy).toFixed(2)}%, ` +
        `test accuracy ${(100 * last.test_accuracy).toFixed(2)}%` : '# no training history'];
    if (edits.length) {
      lines.push(`# edited by hand in the scratchnet explorer: ${edits.map((e) => targetName(e.target)).join(', ')}`);
    }
    if (learn.applied) lines.push(`# ${learn.applied} training step(s) applied in the scratchnet explorer's Learn view`);
    for (let l = 0; l < L; l++) {
      const nIn = net.sizes[l], nOut = net.sizes[l + 1], W = net.W[l];
      lines.push('', `layer ${l + 1} inputs ${nIn} neurons ${nOut}`,
        `# neuron j bias b weights w[0][j] .. w[${nIn - 1}][j]: z_j = b + sum_i w[i][j] * input_i`);
      for (let j = 0; j < nOut; j++) {
        const numbers = new Array(nIn);
        for (let i = 0; i < nIn; i++) numbers[i] = param(W[i * nOut + j]);
        lines.push(`neuron ${j} bias ${param(net.b[l][j])} weights ${numbers.join(' ')}`);
      }
    }
    lines.push('end');
    return lines.join('\n') + '\n';
  }

  const stem = String(DATA.params || 'network').replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '') || 'network';
  $('save-txt').addEventListener('click', () => {
    const url = URL.createObjectURL(new Blob([toText()], { type: 'text/plain' }));
    const name = `${stem}${edits.length || learn.applied ? '-edited' : ''}.txt`;
    const a = Object.assign(document.createElement('a'), { href: url, download: name });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    $('save-status').textContent =
      `Downloaded ${name}: \`scratchnet import ${name} -o net.npz\` makes it a checkpoint.`;
  });
  $('save-server').addEventListener('click', async () => {
    try {
      await api('save', {});
      $('save-status').textContent = `Saved to ${DATA.params}.`;
    } catch (err) {
      $('save-status').textContent = err.message;
    }
  });
  $('revert-server').addEventListener('click', async () => {
    try {
      await api('revert', {});
      edits.length = 0;
      logEdits();
      $('save-status').textContent = `Back to what ${DATA.params} holds.`;
      refreshNetwork();
    } catch (err) {
      $('save-status').textContent = err.message;
    }
  });

  // ---------------------------------------------------------------------------------------------
  // watch it learn: the form, the server's events, the curves and the first layer's tiles

  function drawCurve(canvas, series, lo, hi, label) {
    const w = canvas.clientWidth || 360, h = canvas.clientHeight || 180, dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const left = 46, right = 10, top = 10, bottom = 24, n = Math.max(...series.map((s) => s.values.length), 0);
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#a0a6b0';
    ctx.strokeStyle = '#2c313a';
    const y = (v) => top + (h - top - bottom) * (1 - (v - lo) / (hi - lo || 1));
    const x = (k) => left + (w - left - right) * (n > 1 ? k / (n - 1) : 0.5);
    for (let t = 0; t <= 4; t++) {
      const v = lo + (hi - lo) * t / 4;
      ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(w - right, y(v)); ctx.stroke();
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ctx.fillText(label(v), left - 4, y(v));
    }
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    if (!n) ctx.fillText('no epochs yet', w / 2, h / 2);
    if (n === 1) ctx.fillText('epoch 1', x(0), h - bottom + 6);
    if (n > 1) {
      ctx.textAlign = 'left';
      ctx.fillText('epoch 1', left, h - bottom + 6);
      ctx.textAlign = 'right';
      ctx.fillText(`epoch ${n}`, w - right, h - bottom + 6);
    }
    for (const s of series) {
      ctx.strokeStyle = ctx.fillStyle = s.colour;
      ctx.lineWidth = 2;
      ctx.beginPath();
      s.values.forEach((v, k) => (k ? ctx.lineTo(x(k), y(v)) : ctx.moveTo(x(k), y(v))));
      ctx.stroke();
      s.values.forEach((v, k) => { ctx.beginPath(); ctx.arc(x(k), y(v), 2.5, 0, 2 * Math.PI); ctx.fill(); });
    }
  }

  function showCurves() {
    const loss = history.map((r) => r.loss), train = history.map((r) => r.train_accuracy);
    const testAcc = history.map((r) => r.test_accuracy);
    drawCurve($('curve-loss'), [{ values: loss, colour: rgb(POS) }], 0, Math.max(...loss, 1e-9) * 1.05, (v) => sig3(v));
    const lo = Math.max(0, Math.floor(Math.min(...train, ...testAcc, 1) * 10) / 10 - 0.05);
    drawCurve($('curve-acc'), [{ values: train, colour: rgb(NEG) }, { values: testAcc, colour: rgb(POS) }], lo, 1,
      (v) => (100 * v).toFixed(0) + '%');
    if (history.length) {
      const last = history[history.length - 1];
      $('curve-acc').setAttribute('aria-label', `Accuracy per epoch: after epoch ${last.epoch}, ` +
        `train ${percent(last.train_accuracy)}, test ${percent(last.test_accuracy)}`);
      $('curve-loss').setAttribute('aria-label',
        `Training loss per epoch: ${sig3(last.loss)} after epoch ${last.epoch}`);
    }
    showSummary();
  }

  function showSummary() {
    const last = history[history.length - 1];
    $('summary').textContent = `${net.sizes.join('-')} ${net.hidden}/${net.output} ${net.dtype} · ${DATA.params} · ` +
      `${epochsDone} epoch${epochsDone === 1 ? '' : 's'} trained` +
      (last ? ` · test accuracy ${percent(last.test_accuracy)}` : '') +
      (SERVER ? ' · served by scratchnet serve' : ' · a file: no server');
  }

  const tileButtons = [];
  function showTiles() {
    const box = $('tiles');
    if (!square || L < 2) {
      $('tiles-hint').textContent = 'Tiles are drawn for networks with a hidden layer on square pictures.';
      return;
    }
    const n = Math.min(net.sizes[1], MAX_TILES), s = scales[0];
    if (!tileButtons.length) {
      for (let j = 0; j < n; j++) {
        const button = document.createElement('button');
        button.type = 'button';
        button.setAttribute('aria-label', `Open neuron ${j} of layer 1`);
        button.title = `neuron ${j} of layer 1: its incoming weights`;
        button.appendChild(document.createElement('canvas'));
        button.addEventListener('click', () => select({ kind: 'neuron', layer: 1, j }));
        box.appendChild(button);
        tileButtons.push(button);
      }
    }
    tileButtons.forEach((button, j) => paintTile(button.firstChild, incoming(1, j), s));
    $('tiles-hint').textContent =
      `Each tile is a neuron of layer 1: its ${net.sizes[0]} incoming weights laid out as the picture ` +
      `they weigh, orange where a pixel excites it, blue where one inhibits it (full colour at ±${sig3(s)}).` +
      (net.sizes[1] > n ? ` The first ${n} of ${net.sizes[1]} neurons.` : '');
  }

  // A large network's JSON is megabytes: while training streams new versions, the page fetches the latest
  // after a pause three times as long as the last fetch took, and stays responsive.
  async function fetchNetwork() {
    let d;
    try {
      d = await api('network');
    } catch (err) {
      notice(err.message);
      return;
    }
    if (d.version === netVersion) return;
    netVersion = d.version;
    learnInfo = d.learn;
    const fresh = makeNet(d.network);
    if (fresh.sizes.join() !== net.sizes.join()) {  // trained afresh in another shape: the page is built for one
      location.reload();
      return;
    }
    Object.assign(net, fresh);
    epochsDone = d.epochs_done;
    history = d.history.slice();
    showConfig(d.config);
    showCurves();
    networkChanged('all');
  }
  const refreshNetwork = oneAtATime(fetchNetwork, 3);

  function showConfig(cfg) {  // what training goes on with unless the form says otherwise
    $('train-lr').placeholder = `as saved: ${cfg.lr}`;
    $('train-batch').placeholder = `as saved: ${cfg.batch_size}`;
  }

  function showStatus(s) {
    const was = training;
    training = s.state !== 'idle';
    $('train-start').disabled = training || s.edited;  // the server would refuse: training goes on from the file
    $('train-stop').disabled = s.state !== 'training';
    $('edit-apply').disabled = training;
    $('learn-apply').disabled = training || !learn.step;
    for (const id of ['save-server', 'revert-server']) $(id).disabled = training;
    const words = { idle: 'Idle', training: 'Training', stopping: 'Stopping at the next batch' };
    const epochs = `${s.epochs_done} epoch${s.epochs_done === 1 ? '' : 's'}`;
    $('train-status').textContent = `${words[s.state] || s.state}: ${epochs} done.` +
      (s.edited ? ' The network has edits that are not saved: save or revert them to train.' : '') +
      (s.error ? ` Error: ${s.error}` : '');
    $('train-status').className = s.error ? 'error' : '';
    if (was && !training) {
      $('train-progress').value = 0;
      $('train-progress-text').textContent = '';
      refreshNetwork();
    }
  }

  function startServer() {
    $('train-form').hidden = false;
    $('save-txt').hidden = true;
    for (const id of ['save-server', 'revert-server', 'dl-npz', 'dl-txt']) $(id).hidden = false;
    $('save-server').textContent = `Save to ${DATA.params}`;
    for (const name of DATA.presets || []) $('train-preset').add(new Option(name, name));
    showConfig(DATA.config);
    const events = new EventSource('api/events');
    const on = (name, handle) => events.addEventListener(name, (e) => handle(JSON.parse(e.data)));
    on('status', (s) => {
      showStatus(s);
      if (s.version !== netVersion) refreshNetwork();  // a network event lost to a reconnection
    });
    on('progress', (p) => {
      $('train-progress').value = p.total ? p.samples / p.total : 0;
      $('train-progress-text').textContent =
        `epoch ${p.epoch}: ${thousands(p.samples)} of ${thousands(p.total)} images`;
    });
    on('epoch', (r) => {
      history = history.filter((h) => h.epoch !== r.epoch).concat([r]);
      epochsDone = Math.max(epochsDone, r.epoch);
      showCurves();
      refreshEvaluation();
    });
    on('network', (n) => { if (n.version !== netVersion) refreshNetwork(); });
    events.onerror = () => { $('train-status').textContent = 'Lost the connection to the server; trying again…'; };

    $('train-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const lr = $('train-lr').value.trim(), batch = $('train-batch').value.trim();
      if (lr && !NUMBER.test(lr)) {
        $('train-status').textContent = `The learning rate "${lr}" is not a number.`;
        return;
      }
      const body = { preset: $('train-preset').value || null, epochs: Number($('train-epochs').value),
        lr: lr ? Number(lr) : null, batch_size: batch ? Number(batch) : null, engine: $('train-engine').value,
        fresh: $('train-fresh').checked };
      try {
        await api('train', body);
      } catch (err) {
        $('train-status').textContent = err.message;
        $('train-status').className = 'error';
      }
    });
    $('train-stop').addEventListener('click', () => api('stop', {}).catch((err) => {
      $('train-status').textContent = err.message;
    }));

    refreshNetwork();  // what changed since the page was made
    api('test').then((t) => {
      setTests(t, 'computed by NumPy on the server');
      refreshEvaluation();
    }, (err) => { $('test-accuracy').textContent = err.message; });
  }

  // ---------------------------------------------------------------------------------------------
  // learn: one training step, stage by stage (learn.js computes it as learn.step does)

  let learnInfo = DATA.learn;  // the step's rate, loss, order and optimizer; the dream's settings
  const learn = {
    step: null,  // learn.js's step of the network shown, on `x` with `label`
    stage: 0, stages: [], on: false,  // on: the network view shows the stage
    x: null, label: null, key: null,  // the input stepped; key names it (a repeated step keeps the history)
    history: [],  // the label's output after each applied step on the same input and label
    optimizer: null,  // the server's optimizer state {version, steps, slots}, fetched when a step needs it
    applied: 0,  // no server: steps applied here (the text file says so)
    local: null,  // no server: the optimizer state that applied steps advanced (fresh at first)
    changes: null, changeScales: null,  // after - before of each layer's weights and biases
  };

  const learnView = () => learn.on && learn.step !== null;
  const stageName = () => learn.stages[learn.stage].id;

  function currentInputs() {
    return state.x || inputsOf(state.pixels);
  }

  // The numbers the network view shows: the step's (before, or after the update) or the live input's.
  function shownResult() {
    if (!learnView()) return state.result;
    const s = learn.step, after = stageName() === 'after';
    return { activations: [s.inputs, ...(after ? s.activations_after : s.activations)],
      zs: after ? s.zs_after : s.zs, outputs: after ? s.outputs_after : s.outputs };
  }
  function shownNet() {
    return learnView() && stageName() === 'after' ? learn.step.after : net;
  }

  // The stages of a step: the forward pass, the loss, the output's error, each hidden layer's error
  // (the last first), the gradients, the update, the forward pass again.
  function stagesOf(step) {
    const stages = [{ id: 'forward', title: 'Forward pass: each layer’s z = a·W + b, then a = f(z)' },
      { id: 'loss', title: `Loss (${step.loss_name})` },
      { id: 'output', title: 'Output error δ = dL/dz of the output layer' }];
    for (let l = L - 1; l >= 1; l--) {
      stages.push({ id: 'back', layer: l, title: `Error of layer ${l} (hidden), sent back through w[${l}]` +
        (step.order === 'per-sample' ? ' as just updated' : '') });
    }
    stages.push({ id: 'gradients', title: 'Gradients: dL/dw = δ_j × a_i, dL/db = δ_j' },
      { id: 'update', title: step.optimizer === 'sgd' ? `Update: w ← w − lr × dL/dw (lr = ${exact(step.lr)})`
        : `Update by ${step.optimizer} (lr = ${exact(step.lr)}), from its state` },
      { id: 'after', title: 'Forward pass again: the outputs before and after' });
    return stages;
  }

  // The layer (0-based, of weights) whose error is the lowest known at this stage; L: none yet
  function knownFrom() {
    const st = learn.stages[learn.stage];
    if (['forward', 'loss'].includes(st.id)) return L;
    if (st.id === 'output') return L - 1;
    if (st.id === 'back') return st.layer - 1;
    return 0;
  }

  // The learn view's colour of each neuron of layer l (1-based): its error, or its bias's change
  function learnNodeValues(l) {
    if (!learnView()) return null;
    const id = stageName(), s = learn.step;
    if (id === 'update') return { values: learn.changes.b[l - 1], scale: learn.changeScales.b[l - 1] || 1 };
    if (id === 'forward' || id === 'loss' || id === 'after' || l - 1 < knownFrom()) return null;
    return { values: s.errors[l - 1], scale: maxAbs(s.errors[l - 1]) || 1 };
  }

  // The weights an error is sent back through: updated first in the per-sample order
  const backWeights = (l) => (learn.step.order === 'per-sample' ? learn.step.after.W[l] : net.W[l]);

  function learnEdgeSpec(l) {
    const s = learn.step, id = stageName(), known = knownFrom();
    // before and after the step on one scale (the weights' before it), so that the two compare
    const contribution = (W, a) => ({ W, a, d: null, scale: scales[l] * (maxAbs(a) || 1), faint: FAINT });
    if (id === 'forward' || id === 'loss') return contribution(net.W[l], l ? s.activations[l - 1] : s.inputs);
    if (id === 'after') return contribution(s.after.W[l], l ? s.activations_after[l - 1] : s.inputs);
    if (id === 'gradients') {
      const a = l ? s.activations[l - 1] : s.inputs;
      return { W: null, a, d: s.errors[l], scale: maxAbs(a) * maxAbs(s.errors[l]), faint: 0 };
    }
    if (id === 'update') return { W: learn.changes.W[l], a: null, d: null, scale: learn.changeScales.W[l], faint: 0 };
    if (l === 0 || l <= known) return null;  // 'output', 'back': the connections an error went back through
    return { W: backWeights(l), a: null, d: s.errors[l], scale: scales[l] * maxAbs(s.errors[l]), faint: 0 };
  }

  function outputLabel(j, a) {
    if (!learnView()) return sig3(a[j]);
    const s = learn.step, id = stageName();
    if (id === 'after') return `${sig3(s.outputs[j])} → ${sig3(s.outputs_after[j])}`;
    if (['forward', 'loss'].includes(id)) return sig3(a[j]) + (j === s.label ? ' (target 1)' : '');
    return `δ ${sig3(s.errors[L - 1][j])}`;
  }

  const fName = (l) => (l === L ? net.output : net.hidden);
  function derivativeText(l, j) {
    const a = exact(learn.step.activations[l - 1][j]), name = fName(l);
    return name === 'sigmoid' ? `a(1 − a) = ${a} × (1 − ${a})` : name === 'tanh' ? `1 − a² = 1 − ${a}²`
      : `(a > 0 ? 1 : 0) with a = ${a}`;
  }

  // The formula behind what the pointer is on, with this step's numbers
  function learnDescribe(hit) {
    const s = learn.step, id = stageName(), lines = [], known = knownFrom();
    if (hit.kind === 'neuron' && hit.layer > 0) {
      const l = hit.layer, j = hit.j, d = s.errors[l - 1][j];
      if (l - 1 >= known) {
        if (l === L) {
          const o = exact(s.outputs[j]), y = j === s.label ? 1 : 0;
          lines.push(s.loss_name === { sigmoid: 'bce', softmax: 'cross_entropy' }[net.output]
            ? `δ_${j} = dL/dz = o − y = ${o} − ${y} = ${exact(d)}`
            : `δ_${j} = dL/dz = (o − y) × f'(z) through ${net.output} (mse) = ${exact(d)}`);
        } else {
          const W = backWeights(l), nOut = net.sizes[l + 1], below = s.errors[l];
          let sum = 0;
          for (let k = 0; k < nOut; k++) sum += W[j * nOut + k] * below[k];
          lines.push(`δ_${j} = (Σ_k w[${l}][${j}→k] × δ_k) × f'(z) = ${exact(sum)} × ${derivativeText(l, j)} = ${exact(d)}`);
        }
      }
      if (id === 'gradients' || id === 'update') {
        const b0 = net.b[l - 1][j], b1 = s.after.b[l - 1][j];
        lines.push(`dL/db[${l - 1}][${j}] = δ_${j} = ${exact(d)}`);
        lines.push(s.optimizer === 'sgd' ? `b = ${param(b0)} − ${exact(s.lr)} × ${exact(d)} = ${param(b1)}`
          : `b: ${param(b0)} → ${param(b1)} (${s.optimizer}, change ${exact(b1 - b0)})`);
      }
    } else if (hit.kind === 'weight') {
      const l = hit.layer, i = hit.i, j = hit.j, nOut = net.sizes[l + 1], k = i * nOut + j;
      const a = l ? s.activations[l - 1][i] : s.inputs[i], d = s.errors[l][j];
      if ((id === 'output' || id === 'back') && l > known) {
        const w = backWeights(l)[k];
        lines.push(`sends back w × δ_${j} = ${param(w)} × ${exact(d)} = ${exact(w * d)} to ${sourceName(l, i)}`);
      }
      if (id === 'gradients' || id === 'update') {
        const w0 = net.W[l][k], w1 = s.after.W[l][k];
        lines.push(`dL/dw[${l}][${i}→${j}] = δ_${j} × a_${i} = ${exact(d)} × ${exact(a)} = ${exact(d * a)}`);
        lines.push(s.optimizer === 'sgd' ? `w = ${param(w0)} − ${exact(s.lr)} × ${exact(d * a)} = ${param(w1)}`
          : `w: ${param(w0)} → ${param(w1)} (${s.optimizer}, change ${exact(w1 - w0)})`);
      }
    }
    return lines;
  }

  function learnLegend(item) {
    const s = learn.step, id = stageName();
    const bar = () => gradientCanvas([rgb(NEG), rgb(ZERO), rgb(POS)]);
    const atScales = (f) => net.W.map((_, l) => f(l)).map((v, l) => `${v === null ? '–' : sig3(v)} (into layer ${l + 1})`).join(', ');
    const spec = (l) => { const e = learnEdgeSpec(l); return e ? e.scale : null; };
    const what = { forward: 'contribution w·a', loss: 'contribution w·a', after: 'contribution w·a with the new weights',
      gradients: 'gradient dL/dw = δ_j × a_i', update: 'change of the weight (new − old)' }[id] ||
      'error sent back, w × δ_j';
    item(`Connections: ${what}: −`, bar(), `+ full colour at ${atScales(spec)}`);
    const neurons = id === 'update' ? 'bias change (new − old)' : ['forward', 'loss', 'after'].includes(id) ? null
      : 'error δ = dL/dz (where known; the others show their activation)';
    if (neurons) item(`Neurons: ${neurons}: −`, bar(), '+ full colour at each layer’s largest |value|');
    else item('Neurons: activation 0', gradientCanvas(['rgb(30,30,30)', '#fff']), '1');
    $('thinning').textContent = `Showing stage ${learn.stage + 1} of ${learn.stages.length} of a training step on ` +
      `${s.label === null ? '' : 'label ' + s.label}: hover or tap a neuron or connection for its formula.`;
  }

  // The step needs the optimizer's state (batch order, not plain SGD): the server's, fetched now, or
  // (a file) a fresh one advanced by the steps applied here.
  async function stepOptions(overrides = {}) {
    const info = learnInfo, o = { order: info.order, loss: info.loss, lr: info.lr, optimizer: info.optimizer,
      momentum: info.momentum, weightDecay: info.weight_decay, state: null, ...overrides };
    if (o.order === 'batch' && o.optimizer !== 'sgd' && !overrides.state) {
      if (SERVER) {
        if (!learn.optimizer || learn.optimizer.version !== netVersion) learn.optimizer = await api('optimizer');
        o.state = learn.optimizer;
      } else {
        o.state = learn.local;
      }
    }
    return o;
  }

  function checkStepSize() {
    if (learnInfo.parameters > learnInfo.max_step_parameters) {
      throw new Error(`a ${net.sizes.join('-')} network is too large to step here: at most ` +
        `${thousands(learnInfo.max_step_parameters)} parameters`);
    }
  }

  async function takeStep(inputs, label, overrides) {
    checkStepSize();
    return Learn.step(net, inputs, label, await stepOptions(overrides));
  }

  function learnError(text) {
    setText($('learn-error'), text);
  }

  function readLabel() {
    const text = $('learn-label').value.trim(), v = text === '' ? NaN : Number(text);
    if (!Number.isInteger(v) || v < 0 || v >= nOutputs) {
      throw new Error(`the label "${text}" is not a class of this network: give 0 to ${nOutputs - 1}`);
    }
    return v;
  }

  // A step on the input shown with the label given: computed, shown from its first stage
  async function stepShown(keepStage = false) {
    let label, x;
    try {
      label = readLabel();
      if (!state.pixels && !state.x) throw new Error('there is no input: draw a digit or pick an image first');
      x = currentInputs();
      const step = await takeStep(x, label);
      const key = `${state.source}:${state.source === 'test' ? state.testIndex : ''}:${label}:${Array.from(x).join()}`;
      if (key !== learn.key) learn.history = [step.outputs[label]];
      const stages = stagesOf(step);
      Object.assign(learn, { step, x, label, key, stages, on: true,
        stage: keepStage ? Math.min(learn.stage, stages.length - 1) : 0 });
      learn.changes = { W: step.after.W.map((w, l) => w.map((v, k) => v - net.W[l][k])),
        b: step.after.b.map((b, l) => b.map((v, k) => v - net.b[l][k])) };
      learn.changeScales = { W: learn.changes.W.map(maxAbs), b: learn.changes.b.map(maxAbs) };
      learnError('');
    } catch (err) {
      learnError(err.message);
      return;
    }
    showLearn();
  }

  function showStage() {
    const st = learn.stages[learn.stage], s = learn.step;
    setText($('stage-title'), `Stage ${learn.stage + 1} of ${learn.stages.length}: ${st.title}`);
    $('stage-prev').disabled = learn.stage === 0;
    $('stage-next').disabled = learn.stage === learn.stages.length - 1;
    const y = (j) => (j === s.label ? 1 : 0), big = (v, n = 3) => Array.from(v.keys())
      .sort((p, q) => Math.abs(v[q]) - Math.abs(v[p])).slice(0, n);
    let text = '';
    if (st.id === 'forward') {
      text = `The answer before the step: ${s.prediction} (output ${sig3(s.outputs[s.prediction])}); the label ` +
        `${s.label}’s output is ${exact(s.outputs[s.label])}. Hover a neuron for its z and a.`;
    } else if (st.id === 'loss') {
      const z = s.zs[L - 1];
      text = s.loss_name === 'bce' ? `L = Σ_j [log(1 + e^z_j) − y_j z_j] over the ${nOutputs} outputs = ${exact(s.loss)}`
        : s.loss_name === 'cross_entropy' ? `L = log Σ_j e^z_j − z_${s.label} = ${exact(s.loss + z[s.label])} − ` +
          `${exact(z[s.label])} = ${exact(s.loss)}` : `L = ½ Σ_j (o_j − y_j)² = ${exact(s.loss)}`;
    } else if (st.id === 'output') {
      const d = s.errors[L - 1];
      text = big(d).map((j) => `δ_${j} = ${sig3(d[j])} (o = ${sig3(s.outputs[j])}, y = ${y(j)})`).join('; ') +
        '. The largest three; δ > 0 (orange): z should go down, δ < 0 (blue): up.';
    } else if (st.id === 'back') {
      const d = s.errors[st.layer - 1];
      text = `Largest errors of layer ${st.layer}: ` + big(d).map((j) => `δ_${j} = ${sig3(d[j])}`).join(', ') +
        '. Hover a neuron for its formula.';
    } else if (st.id === 'gradients') {
      text = s.errors.map((d, l) => {
        const a = l ? s.activations[l - 1] : s.inputs;
        return `w[${l}]: largest |dL/dw| ${sig3(maxAbs(a) * maxAbs(d))}`;
      }).join('; ') + '. A pixel that is 0 gets no gradient: its connections stay dark.';
    } else if (st.id === 'update') {
      text = learn.changeScales.W.map((c, l) => `w[${l}]: largest change ${sig3(c)}`).join('; ') +
        (s.order === 'per-sample' ? '. The per-sample order: each layer was updated as soon as its error was known.'
          : `. ${s.optimizer} on a batch of one, as training with these settings does.`);
    } else {
      text = `Loss ${exact(s.loss)} → ${exact(s.loss_after)}; the label ${s.label}’s output ` +
        `${exact(s.outputs[s.label])} → ${exact(s.outputs_after[s.label])}; the answer ${s.prediction} → ${s.prediction_after}.`;
    }
    setText($('stage-text'), text);
    showLegend();
    setHover(null, 0, 0);
    schedule({ edges: true, nodes: true, overlay: true });
  }

  function showLearn() {
    const s = learn.step;
    $('stage-bar').hidden = !learnView();
    $('learn-detail').hidden = !s;
    $('learn-apply').disabled = !s || training;
    if (!s) { showLegend(); schedule({ edges: true, nodes: true, overlay: true }); return; }
    if (learnView()) showStage(); else { showLegend(); schedule({ edges: true, nodes: true, overlay: true }); }
    const table = $('learn-outputs');
    table.textContent = '';
    const head = table.insertRow();
    for (const h of ['output', 'target y', 'before', 'δ = dL/dz', 'after']) {
      head.appendChild(Object.assign(document.createElement('th'), { textContent: h, scope: 'col' }));
    }
    for (let j = 0; j < nOutputs; j++) {
      const row = table.insertRow();
      row.className = j === s.label ? 'label' : '';
      for (const v of [j, j === s.label ? 1 : 0, sig3(s.outputs[j]), sig3(s.errors[L - 1][j]), sig3(s.outputs_after[j])]) {
        row.insertCell().textContent = v;
      }
      row.title = `output ${j}: ${exact(s.outputs[j])} → ${exact(s.outputs_after[j])}`;
    }
    setText($('learn-summary'), `${s.order === 'per-sample' ? 'Per-sample SGD (train.sgd_sample_step)'
      : `${s.optimizer} on a batch of one (train.batch_step)`}, lr ${exact(s.lr)}, loss ${s.loss_name}: ` +
      `loss ${sig3(s.loss)} → ${sig3(s.loss_after)}, answer ${s.prediction} → ${s.prediction_after}.` +
      (!SERVER && s.order === 'batch' && s.optimizer !== 'sgd'
        ? ' This file has no server: the optimizer starts from a fresh state (zero velocity), not the checkpoint’s.' : ''));
    setText($('learn-history'), `Output ${s.label} over the steps applied: ` +
      learn.history.map(sig3).join(' → ') + ` (this step: → ${sig3(s.outputs_after[s.label])})`);
  }

  // The step becomes the network shown: the server's own step (its optimizer state advances too), or here
  async function applyStep() {
    const s = learn.step;
    if (!s) return;
    try {
      if (SERVER) {
        const inputs = Array.from(learn.x, exact).join(',');
        const answer = await api('edit', `{"kind":"step","label":${learn.label},"inputs":[${inputs}]}`);
        learn.applying = true;
        if (answer.version !== netVersion) await fetchNetwork();
      } else {
        learn.applying = true;
        net.W = s.after.W.map((w) => Float64Array.from(w));
        net.b = s.after.b.map((b) => Float64Array.from(b));
        if (s.optimizer_after) learn.local = s.optimizer_after;
        learn.applied++;
        networkChanged('all');
      }
    } catch (err) {
      learnError(err.message);
      return;
    } finally {
      learn.applying = false;
    }
    learn.history.push(s.outputs_after[learn.label]);
    await stepShown(true);
  }

  // The input or the network changed: a step shown is of another; the view goes back to the live one
  function inputChanged() {
    if (learn.on) {
      learn.on = false;
      showLearn();
    }
  }
  function learnNetworkChanged() {
    if (learn.applying || !learn.step) return;
    learn.step = null;
    learn.on = false;
    learnError('The network changed: press Step for a step of the new one.');
    showLearn();
  }

  $('learn-step').addEventListener('click', () => stepShown());
  $('learn-apply').addEventListener('click', applyStep);
  $('stage-prev').addEventListener('click', () => { learn.stage = Math.max(0, learn.stage - 1); showStage(); });
  $('stage-next').addEventListener('click', () => {
    learn.stage = Math.min(learn.stages.length - 1, learn.stage + 1);
    showStage();
  });
  $('stage-close').addEventListener('click', () => { learn.on = false; showLearn(); });
  $('learn-show').addEventListener('click', () => { if (learn.step) { learn.on = true; showLearn(); } });

  // Images to step on: a test image (the test panel's), or a training image from the server
  async function loadImage() {
    const set = $('learn-set').value, k = Number($('learn-index').value);
    try {
      if (set === 'test') {
        if (!test.count) throw new Error('there are no test images here');
        if (!Number.isInteger(k) || k < 0 || k >= test.count) {
          throw new Error(`index must be a whole number from 0 to ${test.count - 1}, not ${$('learn-index').value}`);
        }
        showTest(k);
        $('learn-label').value = test.labels[k];
      } else {
        if (!SERVER) throw new Error('training images need the server: this file holds only its test images');
        if (!Number.isInteger(k) || k < 0 || k >= DATA.train_count) {
          throw new Error(`index must be a whole number from 0 to ${DATA.train_count - 1}, not ${$('learn-index').value}`);
        }
        const t = await api(`train-image?index=${k}`);
        state.pixels = Uint8Array.from(t.pixels);
        state.source = 'train';
        state.message = `Training image #${t.index} (label ${t.label}).`;
        $('learn-label').value = t.label;
        inputChanged();
        schedule({ pixels: true });
        requestAnimationFrame(announce);
      }
      learnError('');
    } catch (err) {
      learnError(err.message);
    }
  }
  $('learn-load').addEventListener('click', loadImage);
  if (!SERVER) {
    $('learn-set').options[1].disabled = true;
    $('learn-set').title = 'This file holds only its test images: training images need scratchnet serve';
  }

  // ---------------------------------------------------------------------------------------------
  // why this answer: learn.js's explain of the input shown

  for (let j = 0; j < nOutputs; j++) $('why-digit').add(new Option(String(j), j));

  function explainShown() {
    const box = $('why-hidden'), digitText = $('why-digit').value;
    try {
      if (!state.pixels && !state.x) throw new Error('there is no input: draw a digit or pick an image first');
      const e = Learn.explain(net, currentInputs(), digitText === '' ? null : Number(digitText));
      $('why-detail').hidden = false;
      setText($('why-error'), '');
      setText($('why-title'), `Output ${e.digit} (the answer is ${e.prediction}): its logit z = ${exact(e.logit)}, ` +
        `output ${exact(e.outputs[e.digit])}.`);
      const map = e.pixel_contributions, ms = maxAbs(map) || 1;
      if (square) paintTile($('why-map'), map, ms, 6);
      let sum = 0;
      for (let i = 0; i < map.length; i++) sum += map[i];
      setText($('why-map-cap'), `x_i × dz/dx_i per pixel: orange pixels raise z, blue lower it (full colour at ` +
        `±${sig3(ms)}; in all ${sig3(sum)}, a first-order estimate, not z).`);
      const c = e.hidden_contributions, order = Array.from(c.keys()).sort((p, q) => c[q] - c[p] || p - q);
      const shown = order.length > 12 ? [...order.slice(0, 8), ...order.slice(-4)] : order;
      const below = L - 1, W = net.W[L - 1], nOut = nOutputs;
      box.textContent = '';
      const hidden = below ? forward(net, currentInputs()).activations[below] : e.inputs;
      for (const j of shown) {
        const li = document.createElement('li'), a = hidden[j], w = W[j * nOut + e.digit];
        li.value = order.indexOf(j) + 1;  // its rank
        if (below > 0) {
          const canvas = document.createElement('canvas'), tw = incoming(below, j);
          paintTile(canvas, tw, maxAbs(tw) || 1, 2);
          canvas.setAttribute('aria-hidden', 'true');
          li.appendChild(canvas);
        }
        li.append(`${sourceName(below, j)}: w·a = ${sig3(w)} × ${sig3(a)} = ${sig3(c[j])}`);
        li.title = `w[${L - 1}][${j}→${e.digit}] · a = ${param(w)} × ${exact(a)} = ${exact(c[j])}`;
        box.appendChild(li);
      }
      let total = 0;
      for (let j = 0; j < c.length; j++) total += c[j];
      setText($('why-sum'), `All ${c.length} contributions add to ${exact(total)}; with the bias ${param(e.bias)}: ` +
        `${exact(total)} + ${param(e.bias)} = ${exact(total + e.bias)}, the logit z = ${exact(e.logit)}` +
        (order.length > shown.length ? ` (the largest 8 and the smallest 4 of ${order.length} shown).` : '.'));
      return e;
    } catch (err) {
      setText($('why-error'), err.message);
      return null;
    }
  }
  $('why-go').addEventListener('click', explainShown);
  $('why-digit').addEventListener('change', explainShown);

  // ---------------------------------------------------------------------------------------------
  // dream a digit: learn.js's dream, a few steps a frame, drawn on the pad

  for (let j = 0; j < nOutputs; j++) $('dream-digit').add(new Option(String(j), j));
  const DREAM_STEPS_PER_FRAME = 4;  // 200 steps in 50 frames: under a second to watch

  function paintPad(values, scale) {  // a picture of numbers in [0, scale] on the pad, pixel blocks
    const c = document.createElement('canvas');
    c.width = c.height = 28;
    const ctx = c.getContext('2d'), img = ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = Math.round(255 * values[i] / scale);
      img.data.set([v, v, v, 255], i * 4);
    }
    ctx.putImageData(img, 0, 0);
    padCtx.imageSmoothingEnabled = false;
    padCtx.drawImage(c, 0, 0, PAD, PAD);
  }

  // Dream of `digit` (default: the one chosen) from a blank picture or the input shown, animated on the pad;
  // returns the run ({dreamer, done, ms}) or null when it cannot start (the reason shown in the page)
  function startDream(fromInput, options = {}, digit = Number($('dream-digit').value)) {
    const d = learnInfo.dream;
    if (dreaming) dreaming.cancelled = true;
    let dreamer;
    try {
      if (!drawable) throw new Error(`dreams are drawn on the pad, which makes 784 inputs; this network takes ${net.sizes[0]}`);
      if (fromInput && !state.pixels && !state.x) throw new Error('there is no input to start from: draw a digit first');
      dreamer = new Learn.Dreamer(net, digit, { steps: d.steps, rate: d.rate, kernel: d.kernel, sigma: d.sigma,
        start: fromInput ? currentInputs() : null, ...options });
    } catch (err) {
      setText($('dream-status'), err.message);
      return null;
    }
    const run = { dreamer, cancelled: false, began: performance.now() };
    dreaming = run;
    strokes.length = 0;
    inputChanged();
    const frame = () => {
      if (run.cancelled) return;
      for (let k = 0; k < DREAM_STEPS_PER_FRAME && dreamer.next(); k++);
      paintPad(dreamer.x, 1);
      setText($('dream-status'), `Dreaming ${digit}: step ${dreamer.t} of ${dreamer.steps}, ` +
        `log p(${digit}) = ${sig3(dreamer.score)}`);
      if (!dreamer.done) { requestAnimationFrame(frame); return; }
      run.ms = performance.now() - run.began;
      dreaming = null;
      state.source = 'dream';
      state.x = dreamer.x;
      state.pixels = null;
      state.message = `A dream of ${digit}, ${dreamer.steps} steps of gradient ascent.`;
      const out = dreamer.outputs, top = argmax(out);
      setText($('dream-status'), `Dreamed ${digit} in ${dreamer.steps} steps: the network answers ${top} ` +
        `(${sig3(out[top])}), log p(${digit}) = ${sig3(dreamer.score)}.`);
      schedule({ forward: true });
      setText($('source'), state.message);
      requestAnimationFrame(announce);
      run.done = true;
    };
    requestAnimationFrame(frame);
    return run;
  }
  $('dream-blank').addEventListener('click', () => startDream(false));
  $('dream-input').addEventListener('click', () => startDream(true));

  // ---------------------------------------------------------------------------------------------
  // a picture dropped or pasted on the pad: preprocess.js, as `scratchnet predict --image`

  async function usePicture(file) {
    try {
      if (!drawable) throw new Error(`this network takes ${net.sizes[0]} inputs: a picture makes 784`);
      if (!file || !/^image\//.test(file.type)) throw new Error(`${file ? file.name || 'that' : 'nothing'} is not a picture file`);
      let bitmap;
      try {
        bitmap = await createImageBitmap(file);
      } catch (err) {
        throw new Error(`${file.name || 'the picture'}: the browser cannot decode it`);
      }
      const c = document.createElement('canvas');
      c.width = bitmap.width;
      c.height = bitmap.height;
      const ctx = c.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bitmap, 0, 0);
      const rgba = ctx.getImageData(0, 0, c.width, c.height).data;
      let pixels;
      try {
        pixels = window.ScratchnetPreprocess.toMnist(rgba, c.width, c.height);
      } catch (err) {
        throw new Error(`${file.name || 'the picture'}: ${String(err.message || err).replace(/^image: /, '')}`);
      }
      if (dreaming) dreaming.cancelled = true;
      strokes.length = 0;
      padCtx.fillStyle = '#000';
      padCtx.fillRect(0, 0, PAD, PAD);
      const k = Math.min(PAD / c.width, PAD / c.height);
      padCtx.imageSmoothingEnabled = true;
      padCtx.drawImage(bitmap, (PAD - c.width * k) / 2, (PAD - c.height * k) / 2, c.width * k, c.height * k);
      Object.assign(state, { source: 'picture', pixels, x: null,
        message: `${file.name || 'The picture'}, preprocessed as scratchnet predict --image does.` });
      setText($('pad-error'), '');
      inputChanged();
      schedule({ pixels: true });
      requestAnimationFrame(announce);
    } catch (err) {
      setText($('pad-error'), err.message);
    }
  }
  pad.addEventListener('dragover', (e) => { e.preventDefault(); pad.classList.add('drop'); });
  pad.addEventListener('dragleave', () => pad.classList.remove('drop'));
  pad.addEventListener('drop', (e) => {
    e.preventDefault();
    pad.classList.remove('drop');
    usePicture(e.dataTransfer.files[0]);
  });
  document.addEventListener('paste', (e) => {
    const item = Array.from(e.clipboardData ? e.clipboardData.items : []).find((i) => i.kind === 'file');
    if (!item) return;
    e.preventDefault();
    usePicture(item.getAsFile());
  });

  // plain arrays of a learn.js result, for the page API
  function plain(value) {
    if (value instanceof Float64Array || value instanceof Uint8Array) return Array.from(value);
    if (Array.isArray(value)) return value.map(plain);
    return value;
  }

  // ---------------------------------------------------------------------------------------------
  // start

  replayPad();
  if (!drawable) $('source').textContent = state.message;
  layout();
  new ResizeObserver(() => { if (wrap.clientWidth !== view.w) layout(); }).observe(wrap);
  showLegend();
  showScores();
  showCurves();
  showTiles();
  showEditTarget();
  $('edit-value').value = param(valueOf(editTarget()));
  if (SERVER) {
    startServer();
  } else {
    $('train-offline').hidden = false;
    if (DATA.test) {
      setTests(DATA.test, 'embedded in this file, predicted here in JavaScript');
      evaluateHere();
    } else {
      $('test-info').textContent = 'This file holds no test images.';
    }
  }

  // For tests and the benchmark (tests/test_browser.py, bench/explorer.py).
  window.scratchnet = {
    forward(pixels) {  // pixels 0..255, as the pad makes them
      const r = forward(net, inputsOf(pixels));
      return { activations: r.activations, outputs: r.outputs };
    },
    // One training step of the network shown on `inputs` (sizes[0] numbers in [0, 1]) with true class
    // `label`, as learn.step takes it; options {lr, state}: another learning rate, another optimizer state
    // ({steps, slots: {name: [w0, b0, w1, ...]}}). Changes nothing. A promise: the server's optimizer state
    // may have to be fetched.
    async step(inputs, label, options = {}) {
      const s = await takeStep(inputs, label, options);
      const keys = ['order', 'optimizer', 'lr', 'loss_name', 'label', 'inputs', 'zs', 'activations', 'loss', 'errors',
        'grad_weights', 'grad_biases', 'weights_after', 'biases_after', 'outputs_after', 'loss_after', 'prediction',
        'prediction_after'];
      const out = Object.fromEntries(keys.map((k) => [k, plain(s[k])]));
      out.outputs = plain(s.outputs);
      out.optimizer_after = s.optimizer_after && { steps: s.optimizer_after.steps,
        slots: Object.fromEntries(Object.entries(s.optimizer_after.slots).map(([k, v]) => [k, plain(v)])) };
      return out;
    },
    // Why output `digit` (default: the answer) has its value for `inputs`, as learn.explain
    explain(inputs, digit = null) {
      const e = Learn.explain(net, inputs, digit);
      return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, plain(v)]));
    },
    // What the network imagines `digit` looks like, as learn.dream; options {steps, rate, start (inputs)}
    dream(digit, options = {}) {
      const d = learnInfo.dream;
      const r = Learn.dream(net, digit, { steps: d.steps, rate: d.rate, kernel: d.kernel, sigma: d.sigma, start: null,
        ...options });
      return { digit, steps: r.steps, image: Array.from(r.x), scores: r.scores.slice(), outputs: Array.from(r.outputs),
        prediction: argmax(r.outputs) };
    },
    // The page's own controls, for tests and the benchmark
    learn: {
      stepShown, applyStep, explainShown, startDream, usePicture,
      get stage() { return learnView() ? { index: learn.stage, id: stageName(), count: learn.stages.length } : null; },
      get stages() { return learn.stages.map((st) => st.id); },
      setStage(k) { learn.stage = clamp(k, 0, learn.stages.length - 1); showStage(); },
      get history() { return learn.history.slice(); },
      get dreaming() { return dreaming !== null; },
    },
    get state() {
      const r = state.result;
      return { source: state.source, message: state.message, pixels: state.pixels ? Array.from(state.pixels) : null,
        inputs: state.pixels || state.x ? Array.from(currentInputs()) : null,
        outputs: r ? Array.from(r.outputs) : null, prediction: r ? argmax(r.outputs) : null,
        testIndex: state.testIndex };
    },
    get evaluation() {
      return test.pred ? { predictions: Array.from(test.pred), accuracy: test.accuracy } : null;
    },
    padRGBA() {  // the pad's pixels, base64
      const data = padCtx.getImageData(0, 0, PAD, PAD).data;
      let bin = '';
      for (let i = 0; i < data.length; i += 8192) bin += String.fromCharCode.apply(null, data.subarray(i, i + 8192));
      return btoa(bin);
    },
    // Where in the window to point at a pixel, neuron or connection so that the page finds that very one.
    locate(target) {
      const r = overlay.getBoundingClientRect();
      if (target.kind !== 'weight') {
        const l = target.kind === 'pixel' ? 0 : target.layer, k = target.kind === 'pixel' ? target.i : target.j;
        return { x: r.left + view.X[l][k], y: r.top + view.Y[l][k] };
      }
      const x0 = view.X[target.layer][target.i], y0 = view.Y[target.layer][target.i];
      const x1 = view.X[target.layer + 1][target.j], y1 = view.Y[target.layer + 1][target.j];
      for (let t = 0.5, k = 0; k < 90; k++, t = 0.5 + (k % 2 ? 1 : -1) * Math.ceil(k / 2) * 0.01) {
        const x = x0 + t * (x1 - x0), y = y0 + t * (y1 - y0);
        if (same(hitTest(x, y, 6), target)) return { x: r.left + x, y: r.top + y };
      }
      return null;
    },
    shortest,
    toText,
    perf: {
      get samples() { return { latency: perf.samples.slice(), wait: perf.waits.slice(), work: perf.works.slice() }; },
      reset() { perf.samples.length = perf.waits.length = perf.works.length = 0; },
    },
    ready: false,
  };
  requestAnimationFrame(() => {  // after the first frame: drawn, and every handler in place
    window.scratchnet.readyAt = performance.now();  // milliseconds since the navigation began
    window.scratchnet.ready = true;
  });
})();
