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
