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
