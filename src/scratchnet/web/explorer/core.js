// The explorer page, a file per job: explorer.py joins this folder's files in its EXPLORER order inside
// one closure (after preprocess.js and learn.js), so they share the names defined here: the page's
// settings, numbers written as NumPy writes them, the network as the page holds it, its state and
// the frame loop. Each file is indented as the closure's body it is.
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

  function bytes(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // explorer.network_data's arrays: JSON numbers, or (encoding base64) the little-endian bytes of the dtype
  function makeNet(nd) {
    const f32 = nd.dtype === 'float32';
    const unpack = nd.encoding !== 'base64' ? (v) => Float64Array.from(v) : (b64) => {
      const view = new DataView(bytes(b64).buffer), out = new Float64Array(view.byteLength / (f32 ? 4 : 8));
      for (let i = 0; i < out.length; i++) out[i] = f32 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
      return out;
    };
    return {
      sizes: nd.sizes.slice(), hidden: nd.hidden, output: nd.output, dtype: nd.dtype,
      W: nd.weights.map(unpack),  // W[l][i * sizes[l+1] + j]: input i -> neuron j
      b: nd.biases.map(unpack),
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
  // frame's start (waits), and the page's work for what the frame shows (works: the last render before it,
  // in the frame or before it, see scheduleNow)
  const perf = { pending: [], samples: [], waits: [], works: [], work: 0 };
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

  // Pen moves reported as they arrive (pointerrawupdate, see pad.js) are worked out at once, while the main
  // thread waits for the next frame, which then only shows the result: the first of a frame's moves (a mouse
  // may report a thousand a second: the later ones wait for the frame).
  let renderedEarly = false;
  function scheduleNow(what) {
    schedule(what);
    if (!renderedEarly) {
      renderedEarly = true;
      render();
    }
  }

  function frame() {
    const began = performance.now();
    framePending = renderedEarly = false;
    render();
    if (perf.pending.length) {
      for (const t of perf.pending) { perf.waits.push(began - t); perf.works.push(perf.work); }
      frameDone.port2.postMessage(perf.pending);
      perf.pending = [];
    }
  }

  function render() {  // what is dirty, drawn again
    if (!Object.values(dirty).some(Boolean)) return;
    const began = performance.now();
    if (dirty.pixels) readInput();
    if (dirty.pixels || dirty.forward) {
      state.result = state.pixels || state.x ? forward(net, currentInputs()) : null;
      drawInput28();
      showScores();
      showNeuron();
      dirty.nodes = true;  // the overlay (hover, selection, cursor) does not depend on the input
      if (mode === 'contribution') dirty.edges = true;
    }
    if (dirty.edges) drawEdges();
    if (dirty.nodes) drawNodes();
    if (dirty.overlay) drawOverlay();
    dirty.pixels = dirty.forward = dirty.edges = dirty.nodes = dirty.overlay = false;
    if (perf.pending.length) perf.work = performance.now() - began;  // what the pen's frame shows took
  }
