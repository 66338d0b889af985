  // ---------------------------------------------------------------------------------------------
  // test images: pick one, step through the misclassified, the confusion matrix

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
