  // ---------------------------------------------------------------------------------------------
  // the drawing pad: strokes of pointer events (mouse, pen, touch), undo per stroke

  const pad = $('pad');
  const padCtx = pad.getContext('2d', { willReadFrequently: true });
  const strokes = [];
  let stroke = null;
  let strokeRaw = false;  // this stroke's moves come as pointerrawupdate (each before its pointermove)
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

  function padChanged(e) {  // e: the pen's event, whose answer is worked out at once (scheduleNow)
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
    (e ? scheduleNow : schedule)({ pixels: true });
  }

  pad.addEventListener('pointerdown', (e) => {
    if (!drawable || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    const p = padPoint(e);
    stroke = [p];
    strokeRaw = false;
    strokes.push(stroke);
    ink(p, p);
    padChanged(e);
  });
  // A browser that reports pen moves as they arrive (pointerrawupdate: Chrome, Edge; mouse and pen) has them
  // inked and their answer worked out before the next frame, which pointermove waits for; else pointermove.
  function penMoved(e) {
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const c of events.length ? events : [e]) {
      const p = padPoint(c);
      ink(stroke[stroke.length - 1], p);
      stroke.push(p);
    }
    padChanged(e);
  }
  pad.addEventListener('pointerrawupdate', (e) => {
    if (!stroke) return;
    strokeRaw = true;
    penMoved(e);
  });
  pad.addEventListener('pointermove', (e) => { if (stroke && !strokeRaw) penMoved(e); });
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
