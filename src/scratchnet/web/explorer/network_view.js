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
  const columnImage = document.createElement('canvas');
  columnImage.width = 1;

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
      const colour = (j) => {
        if (error) return diverge(error.values[j] / error.scale);
        const g = a ? Math.round(30 + 225 * clamp((a[j] - lo) / (hi - lo), 0, 1)) : 0;
        return [g, g, g];
      };
      if (r < 2) {  // a crowded column: a bar per neuron, drawn as one image of a pixel a neuron, stretched
        const step = view.step[l], img = new ImageData(1, n);
        for (let j = 0; j < n; j++) img.data.set([...colour(j), 255], 4 * j);
        columnImage.height = n;
        columnImage.getContext('2d').putImageData(img, 0, 0);
        ctx.imageSmoothingEnabled = step < 1;  // less than a pixel a neuron: neighbours blend
        ctx.drawImage(columnImage, X[0] - 4, Y[0] - step / 2, 8, n * step);
      }
      for (let j = 0; j < n && r >= 2; j++) {
        ctx.fillStyle = rgb(colour(j));
        ctx.beginPath();
        ctx.arc(X[j], Y[j], r, 0, 2 * Math.PI);
        ctx.fill();
        ctx.strokeStyle = b ? rgb(diverge(b[j] / bs)) : '#4a505c';
        ctx.lineWidth = clamp(r * 0.3, 1, 2.5);
        ctx.stroke();
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
