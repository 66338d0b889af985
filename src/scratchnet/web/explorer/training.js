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
