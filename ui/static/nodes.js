// ProxyOS dashboard: the nodes page (admins): the Caddy nodes on this
// node's database as GET /api/cluster reports them, refreshed every few
// seconds while the page is shown.
//
// Node names and versions come from the nodes' configs: they reach the
// page only through textContent and attribute values, never as HTML.

import { authed, errorMessage, NeedLogin, networkError } from './api.js';
import { $, el, rendered, show, template, timeEl } from './dom.js';
import { sessionOrLogin, shell } from './shell.js';

// refreshEvery is the time between the end of one load and the next while
// the page is visible.
const refreshEvery = 5000;

const databaseLabels = { postgres: 'PostgreSQL', sqlite: 'SQLite' };

function plural(n, one, many) {
  return n + ' ' + (n === 1 ? one : many);
}

// agoText says how long ago, in ms, compactly: "3 s ago", "4 min ago".
function agoText(ms) {
  const secs = Math.max(0, Math.floor(ms / 1000));
  if (secs < 60) return secs + ' s ago';
  if (secs < 3600) return Math.floor(secs / 60) + ' min ago';
  if (secs < 86400) return Math.floor(secs / 3600) + ' h ago';
  return Math.floor(secs / 86400) + ' d ago';
}

// serverClock returns a function that tells the server's time now, from
// the Date header of the response res (the browser's clock may be off;
// the nodes' times are the server's), or the browser's clock without it.
function serverClock(res) {
  const date = Date.parse(res.headers.get('Date') || '');
  if (isNaN(date)) return () => Date.now();
  const received = Date.now();
  return () => date + (Date.now() - received);
}

// lastSeenNode shows when a node last reported itself, relative to the
// server's clock, with the exact time in the title.
function lastSeenNode(iso, now) {
  const d = new Date(iso);
  if (isNaN(d)) return el('span', { class: 'muted' }, String(iso || '—'));
  return el('time', { class: 'node-seen', datetime: d.toISOString(), title: d.toLocaleString() }, agoText(now() - d.getTime()));
}

function stateNode(n) {
  return n.state === 'up'
    ? el('span', { class: 'badge badge-good node-state' }, 'up')
    : el('span', { class: 'badge badge-bad node-state', title: 'Not heard from for a minute or more' }, String(n.state || 'unknown'));
}

function changesNode(n) {
  const lag = Number(n.lag) || 0;
  return el('span', null,
    el('code', { class: 'node-change' }, String(n.last_change)),
    el('span', { class: 'node-lag small' + (lag === 0 ? ' muted' : '') },
      ' · ' + (lag === 0 ? 'in step' : plural(lag, 'change', 'changes') + ' behind')));
}

function row(n, now) {
  const name = el('th', { scope: 'row', 'data-label': 'Node' }, el('span', { class: 'node-name' }, n.name || n.id));
  if (n.this) name.append(' ', el('span', { class: 'badge node-this', title: 'The node that answered this page' }, 'this node'));
  return el('tr', { 'data-node-id': n.id, class: n.state === 'up' ? '' : 'node-gone' },
    name,
    el('td', { 'data-label': 'State' }, stateNode(n)),
    el('td', { 'data-label': 'Version' }, el('code', { class: 'node-version' }, n.version || 'unknown')),
    el('td', { 'data-label': 'Last change applied' }, changesNode(n)),
    el('td', { 'data-label': 'Last seen' }, lastSeenNode(n.last_seen, now)),
    el('td', { 'data-label': 'Started' }, timeEl(n.started_at)));
}

// summary is the line above the table: the database and what it means.
function summary(v, nodes) {
  const db = databaseLabels[v.database] || String(v.database || 'unknown');
  const up = nodes.filter((n) => n.state === 'up').length;
  const gone = nodes.length - up;
  if (v.database === 'sqlite') {
    return 'Database: ' + db + ', used by this node alone (several nodes need PostgreSQL).' +
      (gone ? ' Gone entries are earlier runs of this node, forgotten after a day.' : '');
  }
  return 'Database: ' + db + ', shared by ' + plural(nodes.length, 'node', 'nodes') + ' (' + up + ' up' +
    (gone ? ', ' + gone + ' gone' : '') + '). Latest change: ' + v.last_change + '.';
}

export default async function nodesPage(page) {
  const s = await sessionOrLogin();
  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#nodes');
  const refresh = $('#nodes-refresh', root);
  const errorBox = $('#nodes-error', root);
  const summaryLine = $('#nodes-summary', root);
  const list = $('#nodes-list', root);
  const tbody = $('#nodes-table tbody', root);
  const empty = $('#nodes-empty', root);
  const updated = $('#nodes-updated', root);

  let timer = 0;
  let loading = null;
  // stopped ends the automatic loads: after a refusal (403) that a later
  // load would only repeat, on the way to the login page, when leaving.
  let stopped = false;

  function render(v, res) {
    const nodes = Array.isArray(v.nodes) ? v.nodes : [];
    const now = serverClock(res);
    show(summaryLine, summary(v, nodes));
    tbody.replaceChildren(...nodes.map((n) => row(n, now)));
    list.hidden = nodes.length === 0;
    empty.hidden = nodes.length !== 0;
    updated.textContent = 'Updated ' + new Date().toLocaleTimeString() + '; refreshed every ' + refreshEvery / 1000 + ' seconds while this page is open.';
  }

  // load asks the API once; a load already under way is not doubled.
  function load() {
    if (!loading) {
      loading = loadOnce().finally(() => {
        loading = null;
        list.setAttribute('aria-busy', 'false');
      });
    }
    return loading;
  }

  // loadOnce marks the table busy while it loads; it leaves the refresh
  // button enabled: disabling it every few seconds would take the
  // keyboard focus away from it.
  async function loadOnce() {
    list.setAttribute('aria-busy', 'true');
    let res;
    try {
      res = await authed('GET', '/api/cluster');
    } catch (err) {
      if (err instanceof NeedLogin) {
        stopped = true;
        throw err;
      }
      show(errorBox, networkError(err));
      return;
    }
    if (res.status !== 200) {
      show(errorBox, errorMessage(res));
      // A refusal (403) stays one: the page shows only it. Otherwise (an
      // unreachable database) the last table stays, with its time, until
      // a later load succeeds.
      if (res.status === 403) {
        stopped = true;
        list.hidden = true;
        empty.hidden = true;
        refresh.hidden = true;
        show(summaryLine, '');
        updated.textContent = '';
      }
      return;
    }
    show(errorBox, '');
    render(res.data, res);
  }

  // schedule plans the next load, only while the page is visible.
  function schedule() {
    clearTimeout(timer);
    timer = 0;
    if (!stopped && document.visibilityState === 'visible') timer = setTimeout(tick, refreshEvery);
  }

  async function tick() {
    clearTimeout(timer);
    try {
      await load();
    } catch (err) {
      if (err instanceof NeedLogin) return; // sent to the login page
      throw err;
    }
    schedule();
  }

  refresh.addEventListener('click', () => { tick(); });
  // A hidden tab asks nothing; shown again, it loads at once. Leaving the
  // page (or the back/forward cache, which app.js answers with a reload)
  // ends the timer.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && !stopped) tick();
    else schedule();
  });
  window.addEventListener('pagehide', () => {
    stopped = true;
    clearTimeout(timer);
  });

  await load();
  schedule();
  rendered('nodes', 'Nodes');
}
