// scratchnet's network in JavaScript: the forward pass, one training step, why it answered, what it
// imagines. A port of network.py, numpy_engine.py's two steps, optim.py's update and learn.py's
// explain and dream (the reference: the browser tests hold these to NumPy's numbers), in float64;
// a float32 network's parameters are rounded to float32 where NumPy stores them.
//
// A network is {sizes, hidden, output, dtype, W, b}: W[l][i * sizes[l+1] + j] the weight from input
// i to neuron j (the checkpoint's input-major layout), b[l][j] its bias; inputs are numbers in [0, 1].
// window.ScratchnetLearn = {forward, step, explain, Dreamer, dream, lossPerSample, outputDelta}.
(function () {
  'use strict';

  // --- network.py

  function activate(name, z) {  // in place
    const n = z.length;
    if (name === 'sigmoid') for (let j = 0; j < n; j++) z[j] = 1 / (1 + Math.exp(-z[j]));
    else if (name === 'tanh') for (let j = 0; j < n; j++) z[j] = Math.tanh(z[j]);
    else if (name === 'relu') for (let j = 0; j < n; j++) z[j] = z[j] > 0 ? z[j] : 0;
    else {  // softmax, shifted by the largest as network.softmax: exp never overflows
      let top = -Infinity, sum = 0;
      for (let j = 0; j < n; j++) top = Math.max(top, z[j]);
      for (let j = 0; j < n; j++) sum += (z[j] = Math.exp(z[j] - top));
      for (let j = 0; j < n; j++) z[j] /= sum;
    }
    return z;
  }

  // f'(z) from a = f(z), as network.derivative
  function derivative(name, a, i) {
    const v = a[i];
    return name === 'sigmoid' ? v * (1 - v) : name === 'tanh' ? 1 - v * v : v > 0 ? 1 : 0;
  }

  // z = a @ W + b layer by layer: {activations (inputs first), zs, outputs}
  function forward(nt, x) {
    const activations = [x], zs = [];
    let a = x;
    for (let l = 0; l < nt.W.length; l++) {
      const nIn = nt.sizes[l], nOut = nt.sizes[l + 1], W = nt.W[l], b = nt.b[l];
      const z = new Float64Array(nOut);
      for (let i = 0; i < nIn; i++) {
        const ai = a[i];
        if (ai === 0) continue;  // adds nothing: most pixels of a digit are 0
        const row = i * nOut;
        for (let j = 0; j < nOut; j++) z[j] += ai * W[row + j];
      }
      for (let j = 0; j < nOut; j++) z[j] += b[j];
      zs.push(z);
      a = activate(l < nt.W.length - 1 ? nt.hidden : nt.output, Float64Array.from(z));
      activations.push(a);
    }
    return { activations, zs, outputs: a };
  }

  // log(1 + e^z) without overflow, as NumPy's logaddexp(0, z)
  function softplus(z) {
    if (z === 0) return Math.LN2;
    return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
  }

  // network.loss_per_sample for one sample
  function lossPerSample(loss, z, o, y) {
    let s = 0;
    if (loss === 'bce') {
      for (let j = 0; j < z.length; j++) s += softplus(z[j]) - y[j] * z[j];
      return s;
    }
    if (loss === 'cross_entropy') {
      let top = -Infinity, e = 0, yz = 0;
      for (let j = 0; j < z.length; j++) top = Math.max(top, z[j]);
      for (let j = 0; j < z.length; j++) { e += Math.exp(z[j] - top); yz += y[j] * z[j]; }
      return top + Math.log(e) - yz;
    }
    for (let j = 0; j < o.length; j++) s += (o[j] - y[j]) ** 2;
    return 0.5 * s;
  }

  const NATURAL_LOSS = { sigmoid: 'bce', softmax: 'cross_entropy' };

  // dL/dz at the output, as network.output_delta
  function outputDelta(loss, output, o, y) {
    const n = o.length, d = new Float64Array(n);
    for (let j = 0; j < n; j++) d[j] = o[j] - y[j];
    if (loss === NATURAL_LOSS[output]) return d;  // o - y
    if (output === 'sigmoid') {
      for (let j = 0; j < n; j++) d[j] = d[j] * o[j] * (1 - o[j]);
      return d;
    }
    let s = 0;  // softmax: chain the error through its Jacobian
    for (let j = 0; j < n; j++) s += d[j] * o[j];
    for (let j = 0; j < n; j++) d[j] = o[j] * (d[j] - s);
    return d;
  }

  // (W @ delta) * f'(a): the error of the layer below, sent back through W (nIn x nOut)
  function sendBack(W, delta, a, name) {
    const nIn = a.length, nOut = delta.length, out = new Float64Array(nIn);
    for (let i = 0; i < nIn; i++) {
      let s = 0;
      for (let j = 0, row = i * nOut; j < nOut; j++) s += W[row + j] * delta[j];
      out[i] = s * derivative(name, a, i);
    }
    return out;
  }

  function copyNet(nt) {
    return { sizes: nt.sizes.slice(), hidden: nt.hidden, output: nt.output, dtype: nt.dtype,
      W: nt.W.map((w) => Float64Array.from(w)), b: nt.b.map((b) => Float64Array.from(b)) };
  }

  function outer(a, d, round) {  // dL/dw[i, j] = a_i * delta_j
    const g = new Float64Array(a.length * d.length);
    for (let i = 0, k = 0; i < a.length; i++) {
      const ai = a[i];
      if (ai === 0) { k += d.length; continue; }
      for (let j = 0; j < d.length; j++, k++) g[k] = round(ai * d[j]);
    }
    return g;
  }

  function checkClass(nt, value, what) {
    const n = nt.sizes[nt.sizes.length - 1];
    if (!Number.isInteger(value) || value < 0 || value >= n) {
      throw new Error(`${what} ${JSON.stringify(value)} is not a class of this network: give 0 to ${n - 1}`);
    }
    return value;
  }

  function checkInputs(nt, inputs) {
    if (!inputs || inputs.length !== nt.sizes[0]) {
      throw new Error(`the network takes ${nt.sizes[0]} inputs, not ${inputs ? inputs.length : 'none'}`);
    }
    const x = Float64Array.from(inputs, Number);
    for (let i = 0; i < x.length; i++) {
      if (!(x[i] >= 0 && x[i] <= 1)) throw new Error('inputs must be finite numbers in [0, 1]');
    }
    if (nt.dtype === 'float32') for (let i = 0; i < x.length; i++) x[i] = Math.fround(x[i]);
    return x;
  }

  // --- optim.py: one parameter's update, in place; `slots` its arrays of the optimizer's state

  const ADAM_BETAS = [0.9, 0.999], ADAM_EPSILON = 1e-8;

  function applyUpdate(opt, p, g, slots, lr, round) {
    const n = p.length;
    if (opt.kind === 'sgd') {
      for (let k = 0; k < n; k++) p[k] = round(p[k] - round(lr * g[k]));
    } else if (opt.kind === 'momentum' || opt.kind === 'nesterov') {
      const v = slots.velocity, m = opt.momentum;
      for (let k = 0; k < n; k++) {
        const step = round(lr * g[k]);
        v[k] = round(round(v[k] * m) - step);
        p[k] = round(p[k] + (opt.kind === 'nesterov' ? round(round(m * v[k]) - step) : v[k]));
      }
    } else {  // adam
      const [b1, b2] = ADAM_BETAS, m = slots.m, v = slots.v;
      const rate = lr * Math.sqrt(1 - b2 ** opt.steps) / (1 - b1 ** opt.steps);
      for (let k = 0; k < n; k++) {
        m[k] = round(round(m[k] * b1) + round((1 - b1) * g[k]));
        v[k] = round(round(v[k] * b2) + round(round((1 - b2) * g[k]) * g[k]));
        p[k] = round(p[k] - round(round(rate * m[k]) / round(Math.sqrt(v[k]) + ADAM_EPSILON)));
      }
    }
  }

  const SLOTS = { sgd: [], momentum: ['velocity'], nesterov: ['velocity'], adam: ['m', 'v'] };

  // A fresh optimizer state, or a copy of `state` ({steps, slots: {name: [w0, b0, w1, b1, ...]}})
  function optimizerState(nt, kind, state) {
    const sizes = [];
    nt.W.forEach((w, l) => sizes.push(w.length, nt.b[l].length));
    const slots = {};
    for (const name of SLOTS[kind]) {
      const given = state && state.slots && state.slots[name];
      const fits = given && given.length === sizes.length && given.every((a, k) => a.length === sizes[k]);
      slots[name] = sizes.map((n, k) => (fits ? Float64Array.from(given[k]) : new Float64Array(n)));
    }
    return { steps: state && state.slots ? state.steps || 0 : 0, slots };
  }

  // One training step of `nt` on inputs x with true class `label`, as learn.step: options {order
  // ('per-sample': train.sgd_sample_step; 'batch': train.batch_step on a batch of one), loss, lr,
  // optimizer, momentum, weightDecay, state (the optimizer's, as optimizerState)}. `nt` is unchanged.
  function step(nt, inputs, label, options) {
    const o = options, L = nt.W.length, n = nt.sizes;
    checkClass(nt, label, 'label');
    const x = checkInputs(nt, inputs);
    if (!(Number.isFinite(o.lr) && o.lr >= 0)) throw new Error(`the learning rate must be a finite number >= 0, got ${o.lr}`);
    const round = nt.dtype === 'float32' ? Math.fround : (v) => v;
    const target = new Float64Array(n[L]);
    target[label] = 1;
    const before = forward(nt, x), activations = before.activations;
    const after = copyNet(nt), errors = new Array(L), gradients = new Array(L);
    let delta = outputDelta(o.loss, nt.output, before.outputs, target).map(round);
    let optimizerAfter = null, optimizer = 'sgd';
    if (o.order === 'per-sample') {  // each layer updated as soon as its error is known, then sent back through it
      for (let l = L - 1; l >= 0; l--) {
        const nOut = n[l + 1], W = after.W[l], b = after.b[l], a = activations[l];
        const change = delta.map((d) => round(o.lr * d));
        for (let j = 0; j < nOut; j++) b[j] = round(b[j] - change[j]);
        for (let i = 0; i < n[l]; i++) {
          const ai = a[i];
          if (l === 0 && ai === 0) continue;  // the first layer's rows of the non-zero inputs only
          for (let j = 0, row = i * nOut; j < nOut; j++) W[row + j] = round(W[row + j] - round(ai * change[j]));
        }
        errors[l] = delta;
        if (l) delta = sendBack(W, delta, a, nt.hidden).map(round);
      }
    } else {  // backpropagation through the old weights, then the optimizer's update of every layer
      errors[L - 1] = delta;
      for (let l = L - 1; l > 0; l--) errors[l - 1] = sendBack(nt.W[l], errors[l], activations[l], nt.hidden).map(round);
      optimizer = o.optimizer;
      const opt = { kind: o.optimizer, momentum: o.momentum, ...optimizerState(nt, o.optimizer, o.state) };
      opt.steps += 1;
      const slot = (k) => Object.fromEntries(Object.entries(opt.slots).map(([name, arrays]) => [name, arrays[k]]));
      for (let l = 0; l < L; l++) {
        let g = outer(activations[l], errors[l], round);
        if (o.weightDecay) {  // L2 on the weights, not the biases: a new array, the gradient itself is kept
          const W = nt.W[l], decayed = new Float64Array(g.length);
          for (let k = 0; k < g.length; k++) decayed[k] = round(g[k] + round(o.weightDecay * W[k]));
          gradients[l] = g;
          g = decayed;
        } else {
          gradients[l] = g;
        }
        applyUpdate(opt, after.W[l], g, slot(2 * l), o.lr, round);
        applyUpdate(opt, after.b[l], errors[l], slot(2 * l + 1), o.lr, round);
      }
      optimizerAfter = { steps: opt.steps, slots: opt.slots };
    }
    const again = forward(after, x);
    const argmax = (v) => v.reduce((best, value, j) => (value > v[best] ? j : best), 0);
    return {
      order: o.order, optimizer, lr: o.lr, loss_name: o.loss, label, target, inputs: x,
      zs: before.zs, activations: activations.slice(1), outputs: before.outputs,
      loss: lossPerSample(o.loss, before.zs[L - 1], before.outputs, target), errors,
      grad_weights: activations.slice(0, L).map((a, l) => gradients[l] || outer(a, errors[l], round)),
      grad_biases: errors,
      weights_after: after.W, biases_after: after.b, after, optimizer_after: optimizerAfter,
      zs_after: again.zs, activations_after: again.activations.slice(1), outputs_after: again.outputs,
      loss_after: lossPerSample(o.loss, again.zs[L - 1], again.outputs, target),
      prediction: argmax(before.outputs), prediction_after: argmax(again.outputs),
    };
  }

  // --- learn.explain and learn.dream

  // dJ/dx for an output-layer dJ/dz `delta`: backpropagation carried on to the input
  function inputGradient(nt, activations, delta) {
    let d = delta;
    for (let l = nt.W.length - 1; l > 0; l--) d = sendBack(nt.W[l], d, activations[l], nt.hidden);
    const nOut = nt.sizes[1], W = nt.W[0], g = new Float64Array(nt.sizes[0]);
    for (let i = 0; i < g.length; i++) {
      let s = 0;
      for (let j = 0, row = i * nOut; j < nOut; j++) s += W[row + j] * d[j];
      g[i] = s;
    }
    return g;
  }

  // Why output `digit` has its value for inputs x: input x gradient of its logit per pixel, and the last
  // layer's z split exactly into w * a per input plus the bias.
  function explain(nt, inputs, digit) {
    nt = { ...nt, dtype: 'float64' };  // computed in float64, as learn.explain
    const x = checkInputs(nt, inputs), L = nt.W.length;
    const r = forward(nt, x);
    const prediction = r.outputs.reduce((best, v, j) => (v > r.outputs[best] ? j : best), 0);
    digit = digit === undefined || digit === null ? prediction : checkClass(nt, digit, 'digit');
    const unit = new Float64Array(nt.sizes[L]);
    unit[digit] = 1;
    const g = inputGradient(nt, r.activations, unit);
    const a = r.activations[L - 1], nOut = nt.sizes[L], W = nt.W[L - 1];
    return {
      digit, prediction, outputs: r.outputs, logit: r.zs[L - 1][digit], inputs: x,
      pixel_contributions: x.map((v, i) => v * g[i]),
      hidden_contributions: a.map((v, i) => v * W[i * nOut + digit]), bias: nt.b[L - 1][digit],
    };
  }

  // learn._blur: `kernel` along rows then columns of a square picture, zero outside it, summed in its order
  function blur(image, side, kernel) {
    const pad = kernel.length >> 1, rows = new Float64Array((side + 2 * pad) * side);
    for (let r = 0; r < side + 2 * pad; r++) {
      const y = r - pad;
      for (let c = 0; c < side; c++) {
        let s = 0;
        for (let k = 0; k < kernel.length; k++) {
          const x = c + k - pad;
          s += kernel[k] * (y >= 0 && y < side && x >= 0 && x < side ? image[y * side + x] : 0);
        }
        rows[r * side + c] = s;
      }
    }
    const out = new Float64Array(side * side);
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        let s = 0;
        for (let k = 0; k < kernel.length; k++) s += kernel[k] * rows[(r + k) * side + c];
        out[r * side + c] = s;
      }
    }
    return out;
  }

  function dreamWindow(n, sigma) {  // learn.dream_window
    const side = Math.round(Math.sqrt(n)), centre = (side - 1) / 2, w = new Float64Array(n);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        w[y * side + x] = Math.exp(-((y - centre) ** 2 + (x - centre) ** 2) / (2 * sigma ** 2));
      }
    }
    return w;
  }

  // learn.dream, a step at a time: next() moves to the next picture; {t, x, score, outputs} the one now.
  // options: {steps, rate, kernel, sigma, start (inputs or null)}
  class Dreamer {
    constructor(nt, digit, options) {
      checkClass(nt, digit, 'digit');
      const steps = options.steps;
      if (!Number.isInteger(steps) || steps < 0 || steps > 100000) {
        throw new Error(`steps must be a whole number from 0 to 100000, got ${JSON.stringify(steps)}`);
      }
      const n = nt.sizes[0], side = Math.round(Math.sqrt(n));
      if (side * side !== n) throw new Error(`dreams are square pictures: the network's ${n} inputs are not one`);
      this.nt = { ...nt, dtype: 'float64' };  // computed in float64, as learn.dream
      Object.assign(this, { digit, steps, side, rate: options.rate, kernel: options.kernel, t: 0 });
      this.window = dreamWindow(n, options.sigma);
      this.free = options.start ? checkInputs(this.nt, options.start) : new Float64Array(n);
      this.scores = [];
      this.look();
    }

    look() {  // the picture of the free variables now, and what the network makes of it
      this.smooth = blur(this.free, this.side, this.kernel);
      this.x = this.smooth.map((v, i) => Math.min(1, Math.max(0, v)) * this.window[i]);
      this.result = forward(this.nt, this.x);
      const z = this.result.zs[this.nt.W.length - 1];
      this.probabilities = activate('softmax', Float64Array.from(z));
      this.score = Math.log(this.probabilities[this.digit]);
      this.outputs = this.result.outputs;
      this.scores.push(this.score);
    }

    get done() { return this.t >= this.steps; }

    next() {
      if (this.done) return false;
      const delta = this.probabilities.map((p) => -p);  // d log softmax_digit / dz
      delta[this.digit] += 1;
      const g = inputGradient(this.nt, this.result.activations, delta);
      for (let i = 0; i < g.length; i++) {
        g[i] *= this.window[i];
        if ((this.smooth[i] <= 0 && g[i] < 0) || (this.smooth[i] >= 1 && g[i] > 0)) g[i] = 0;  // held by the clip
      }
      const b = blur(g, this.side, this.kernel);  // blur's transpose is itself
      let largest = 0;
      for (let i = 0; i < b.length; i++) largest = Math.max(largest, Math.abs(b[i]));
      if (largest > 0) for (let i = 0; i < b.length; i++) this.free[i] = this.free[i] + this.rate * b[i] / largest;
      this.t++;
      this.look();
      return true;
    }
  }

  function dream(nt, digit, options) {
    const d = new Dreamer(nt, digit, options);
    while (d.next());
    return d;
  }

  window.ScratchnetLearn = { forward, activate, step, explain, Dreamer, dream, lossPerSample, outputDelta, optimizerState };
})();
