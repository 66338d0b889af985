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
