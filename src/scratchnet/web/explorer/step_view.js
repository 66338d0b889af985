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
