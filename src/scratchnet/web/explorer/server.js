  // ---------------------------------------------------------------------------------------------
  // the server: JSON in and out, errors as one line

  async function api(path, body) {  // body: an object, or JSON text
    const json = typeof body === 'string' ? body : JSON.stringify(body);
    const options = body === undefined ? {}
      : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: json };
    const response = await fetch('api/' + path, options);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `${path}: ${response.status} ${response.statusText}`);
    return data;
  }

  // Run the async `task` one at a time: a call while it runs, or in the pause after it, runs it once more
  // afterwards, so the last call is always served. The pause lasts `slowdown` times as long as the task took.
  function oneAtATime(task, slowdown = 0) {
    let running = false, wanted = false;
    return async function trigger() {
      wanted = true;
      if (running) return;
      running = true;
      try {
        while (wanted) {
          wanted = false;
          const began = performance.now();
          await task();
          await new Promise((done) => setTimeout(done, slowdown * (performance.now() - began)));
        }
      } finally {
        running = false;
      }
    };
  }

  const refreshEvaluation = oneAtATime(async () => {  // NumPy's view of the server's network
    if (!test.count) return;
    try {
      showEvaluation(await api('evaluation'));
    } catch (err) {
      $('test-accuracy').textContent = err.message;
    }
  });

  function evaluate() {
    if (SERVER) refreshEvaluation(); else if (test.count) evaluateHere();
  }
