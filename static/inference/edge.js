// The edge page: runs the served ONNX export in the browser with
// onnxruntime-web, keeps the model for offline use, reports predictions back.
(function () {
  'use strict';
  const cfg = JSON.parse(document.getElementById('edge-config').textContent);
  const MODEL_CACHE = 'modelgate-edge-model-' + cfg.name;
  const QUEUE_KEY = 'modelgate-edge-queue-' + cfg.name;
  const $ = (id) => document.getElementById(id);

  ort.env.wasm.numThreads = 1; // no cross-origin isolation: one thread
  ort.env.wasm.wasmPaths = { mjs: cfg.ortMjs, wasm: cfg.ortWasm };

  const state = { session: null, meta: null, etag: null, reporting: false };

  function meta(headers) {
    return {
      version: Number(headers.get('X-Model-Version')),
      sha256: headers.get('X-Model-Sha256'),
      inputs: JSON.parse(headers.get('X-Model-Inputs')),
      labels: JSON.parse(headers.get('X-Model-Labels')),
      etag: headers.get('ETag'),
    };
  }

  async function use(response) {
    const bytes = new Uint8Array(await response.clone().arrayBuffer());
    const session = await ort.InferenceSession.create(bytes);
    state.session = session;
    state.meta = meta(response.headers);
    state.etag = state.meta.etag;
    $('edge-version').textContent = state.meta.version;
    $('edge-state').textContent = 'ready (v' + state.meta.version + ', in this browser)';
    $('edge-predict').disabled = false;
    document.body.dataset.edgeReady = String(state.meta.version);
  }

  // Download the model, or revalidate it (304 when the alias has not moved).
  async function refresh() {
    let response = null;
    try {
      const headers = state.etag ? { 'If-None-Match': state.etag } : {};
      response = await fetch(cfg.model, { headers, credentials: 'same-origin', cache: 'no-store' });
    } catch (err) {
      response = null; // offline
    }
    if (response && response.status === 304) return;
    if (response && response.ok) {
      const cache = await caches.open(MODEL_CACHE);
      await cache.put(cfg.model, response.clone());
      await use(response);
      return;
    }
    if (!state.session) {
      const cached = await (await caches.open(MODEL_CACHE)).match(cfg.model);
      if (cached) { await use(cached); return; }
      $('edge-state').textContent = response
        ? 'the model could not be fetched (' + response.status + ')'
        : 'offline, and the model was never downloaded here';
    }
  }

  // A version-7 UUID: time-ordered, like the server's prediction ids.
  function uuid7() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    let ms = Date.now();
    for (let i = 5; i >= 0; i--) { bytes[i] = ms % 256; ms = Math.floor(ms / 256); }
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' +
      hex.slice(16, 20) + '-' + hex.slice(20);
  }

  function queue() { return JSON.parse(localStorage.getItem(QUEUE_KEY) || '[]'); }
  function save(items) {
    localStorage.setItem(QUEUE_KEY, JSON.stringify(items));
    $('edge-pending').textContent = items.length;
  }

  async function predict(inputs) {
    if (!state.session) throw new Error('the model is not loaded');
    const feeds = {};
    for (const spec of state.meta.inputs) {
      const value = inputs[spec.name];
      feeds[spec.name] = spec.type === 'string'
        ? new ort.Tensor('string', [String(value ?? '')], [1, 1])
        : new ort.Tensor('float32', Float32Array.of(Number(value)), [1, 1]);
    }
    const started = performance.now();
    const out = await state.session.run(feeds);
    const latency = performance.now() - started;
    const probabilities = {};
    state.meta.labels.forEach((label, i) => { probabilities[label] = out.probabilities.data[i]; });
    const result = {
      id: uuid7(),
      version: state.meta.version,
      inputs,
      label: String(out.label.data[0]),
      probabilities,
      predicted_at: new Date().toISOString(),
      latency_ms: latency,
    };
    save(queue().concat([result]));
    report();
    return result;
  }

  function csrf() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  // Send the waiting predictions; each one leaves the queue once the server
  // has it (a retry of the same ids is answered 'duplicate', never logged twice).
  async function report() {
    if (state.reporting || !navigator.onLine) return;
    const items = queue().slice(0, 500);
    if (!items.length) return;
    state.reporting = true;
    try {
      const response = await fetch(cfg.telemetry, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf() },
        body: JSON.stringify({ alias: cfg.alias, items }),
      });
      if (response.ok) {
        const done = new Set((await response.json()).results.map((r) => r.id));
        save(queue().filter((item) => !done.has(item.id)));
      }
    } catch (err) {
      // offline again: the items stay queued
    } finally {
      state.reporting = false;
    }
    if (queue().length && navigator.onLine) setTimeout(report, 1000);
  }

  function show(result) {
    $('edge-label').textContent = result.label;
    $('edge-probabilities').innerHTML = '';
    for (const [label, p] of Object.entries(result.probabilities)) {
      const row = document.createElement('tr');
      row.innerHTML = '<td></td><td></td>';
      row.children[0].textContent = label;
      row.children[1].textContent = p.toFixed(4);
      $('edge-probabilities').appendChild(row);
    }
    $('edge-result-version').textContent = result.version;
    $('edge-latency').textContent = result.latency_ms.toFixed(2);
    $('edge-result').hidden = false;
  }

  $('edge-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const inputs = {};
    document.querySelectorAll('[data-input]').forEach((el) => {
      inputs[el.dataset.input] = el.dataset.type === 'string' ? el.value : Number(el.value);
    });
    show(await predict(inputs));
  });

  function network() { $('edge-network').textContent = navigator.onLine ? 'online' : 'offline'; }
  window.addEventListener('online', () => { network(); report(); refresh(); });
  window.addEventListener('offline', network);
  network();
  save(queue());

  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register(cfg.serviceWorker).catch(() => {});
  }
  window.modelgateEdge = { predict, report, refresh, state, queue };
  refresh().then(report);
  setInterval(() => { refresh(); report(); }, cfg.checkSeconds * 1000);
})();
