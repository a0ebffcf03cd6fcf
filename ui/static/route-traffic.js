// ProxyOS dashboard: a route's traffic over the last hour (charts of
// requests per second by status class and of latency, per node in a
// cluster) and its request log, on the route page.
//
// Paths, client addresses and users in the log are user data: they only
// ever reach the page through textContent.

import { authed, errorMessage, NeedLogin, networkError } from './api.js';
import { $, el, formatDate, show } from './dom.js';
import { lineChart } from './chart.js';
import { routePath } from './route.js';

// classes are the status classes the charts draw (1xx are rare).
const classes = [
  { i: 1, label: '2xx', cls: 'chart-2xx' },
  { i: 2, label: '3xx', cls: 'chart-3xx' },
  { i: 3, label: '4xx', cls: 'chart-4xx' },
  { i: 4, label: '5xx', cls: 'chart-5xx' },
];

// refreshEvery is how often the page reads the traffic again: the server
// samples every 10 seconds.
const refreshEvery = 10000;

// wireTraffic shows route id's traffic and, for those who may read it
// (operators and admins), its request log.
export async function wireTraffic(id, canReadLog) {
  const box = $('#route-traffic');
  const select = $('#route-traffic-node');
  let data = null;
  box.hidden = false;

  function draw() {
    if (!data) return;
    const choice = select.value;
    let points = data.local.points;
    let step = data.local_step;
    if (choice === 'sum') {
      points = data.sum;
      step = data.step;
    } else if (choice.startsWith('node:')) {
      const n = data.nodes.find((x) => 'node:' + x.node === choice);
      points = n ? n.points : [];
      step = data.step;
    }
    const times = points.map((p) => p.t);
    const rate = classes.map((c) => ({ label: c.label, cls: c.cls, values: points.map((p) => p.requests[c.i] / step) }));
    const latency = [
      { label: 'p50', cls: 'chart-p50', values: points.map((p) => p.p50_ms) },
      { label: 'p95', cls: 'chart-p95', values: points.map((p) => p.p95_ms) },
    ];
    $('#route-traffic-requests').replaceChildren(lineChart(times, rate, 'requests/s'));
    $('#route-traffic-latency').replaceChildren(lineChart(times, latency, 'ms'));
    let total = 0;
    let errors = 0;
    for (const p of points) {
      total += p.requests.reduce((a, b) => a + b, 0);
      errors += p.requests[4];
    }
    $('#route-traffic-summary').textContent = total + ' requests in the last hour' +
      (total ? ', ' + errors + ' with 5xx' : '') + '.';
    box.dataset.total = String(total);
  }

  function fillNodes() {
    const keep = select.value;
    const opts = [el('option', { value: 'local' }, 'This node (' + (data.local.node || 'unnamed') + '), every 10 s')];
    if (data.nodes.length > 1) opts.push(el('option', { value: 'sum' }, 'All nodes, per minute'));
    for (const n of data.nodes) opts.push(el('option', { value: 'node:' + n.node }, n.node + ', per minute'));
    select.replaceChildren(...opts);
    if (keep && Array.from(select.options).some((o) => o.value === keep)) select.value = keep;
  }

  async function load() {
    let res;
    try {
      res = await authed('GET', routePath(id) + '/traffic');
    } catch (err) {
      if (err instanceof NeedLogin) return;
      show($('#route-traffic-error'), networkError(err));
      return;
    }
    if (res.status !== 200) {
      show($('#route-traffic-error'), 'Could not load the traffic: ' + errorMessage(res));
      return;
    }
    show($('#route-traffic-error'), '');
    data = res.data;
    fillNodes();
    draw();
  }

  select.addEventListener('change', draw);
  $('#route-traffic-refresh').addEventListener('click', () => Promise.all([load(), canReadLog ? loadLog() : null]));
  setInterval(() => { if (!document.hidden) load(); }, refreshEvery);
  await load();
  if (canReadLog) await loadLog();
}

// loadLog shows the route's request log, newest first.
async function loadLog() {
  const box = $('#route-requests');
  const id = new URLSearchParams(location.search).get('id') || '';
  let res;
  try {
    res = await authed('GET', routePath(id) + '/requests');
  } catch (err) {
    if (err instanceof NeedLogin) return;
    box.hidden = false;
    show($('#route-requests-error'), networkError(err));
    return;
  }
  box.hidden = false;
  if (res.status !== 200) {
    show($('#route-requests-error'), 'Could not load the request log: ' + errorMessage(res));
    return;
  }
  show($('#route-requests-error'), '');
  const d = res.data;
  $('#route-requests-off').hidden = !!d.enabled;
  $('#route-requests-list').hidden = !d.enabled;
  $('#route-requests-size').textContent = String(d.size);
  // Each node logs the requests it served: in cluster mode, say which.
  $('#route-requests-node').textContent = ' (' + String(d.node || 'unnamed') + ')';
  $('#route-requests-node').hidden = !d.cluster;
  $('#route-requests-cluster').hidden = !d.cluster;
  const rows = (Array.isArray(d.requests) ? d.requests : []).map((r) => {
    const t = new Date(r.time);
    return el('tr', null,
      el('td', { 'data-label': 'Time' }, isNaN(t) ? String(r.time || '') : formatDate(t)),
      el('td', { 'data-label': 'Client' }, String(r.client_ip || '')),
      el('td', { 'data-label': 'Method' }, String(r.method || '')),
      el('td', { 'data-label': 'Path', class: 'request-path' }, String(r.path || '')),
      el('td', { 'data-label': 'Status', class: 'status-' + String(r.status).charAt(0) + 'xx' }, String(r.status)),
      el('td', { 'data-label': 'Duration' }, String(r.duration_ms) + ' ms'),
      el('td', { 'data-label': 'User' }, String(r.user || '—')));
  });
  $('#route-requests-table tbody').replaceChildren(...rows);
  $('#route-requests-empty').hidden = !d.enabled || rows.length > 0;
}
