// ProxyOS dashboard: the route form's locations, the paths of a route's
// hosts served with settings of their own. Each location is a list item
// built here (add, remove, move up and down); its inputs carry the name
// of the Location field they edit in data-field, so an error of the
// server (locations[1].path) lands next to the right input.
//
// Paths, upstreams, bodies and header edits are user data: they only
// reach the page as input values, never as HTML.

import { $, $$, el, errorBoxOf, show } from './dom.js';
import { formatHeaders, parseHeaders, requestHeaderError } from './route-form.js';

let list = null; // the <ol> of locations
let serial = 0; // numbers the inputs' ids
const touched = new WeakSet(); // inputs the user has left once
const serverErrors = new Map(); // input → message of the last 400

// The parts of a Location the editor edits; other fields of a loaded
// location (its response header edits) are kept as they are. Its request
// header edits are edited as the route's: values are secrets the server
// shows as null, written "(unchanged)", and a null sent back keeps the
// value stored for the location of the same path.
const edited = ['path', 'kind', 'upstreams', 'redirect', 'static', 'strip_prefix'];

// wireLocations sets the editor up: onChange runs after the list
// changed (an item added, removed or moved) and when an input is left.
export function wireLocations(onChange) {
  list = $('#route-locations');
  $('#route-location-add').addEventListener('click', () => {
    const item = locationItem({});
    list.append(item);
    renumber();
    onChange();
    $('[data-field="path"]', item).focus();
  });
  list.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-move]');
    if (!btn) return;
    const item = btn.closest('li');
    const move = btn.dataset.move;
    if (move === 'up' && item.previousElementSibling) item.previousElementSibling.before(item);
    else if (move === 'down' && item.nextElementSibling) item.nextElementSibling.after(item);
    else if (move === 'remove') item.remove();
    renumber();
    onChange();
    if (item.isConnected) btn.focus();
    else $('#route-location-add').focus();
  });
  list.addEventListener('input', (ev) => {
    serverErrors.delete(ev.target);
    if (ev.target.dataset.field === 'kind') showKind(ev.target.closest('li'));
  });
  list.addEventListener('focusout', (ev) => {
    if (!ev.target.dataset || !ev.target.dataset.field) return;
    // Leaving an untouched, empty input is not a mistake yet.
    if (ev.target.value !== '') touched.add(ev.target);
    onChange();
  });
}

// field builds a labelled input with its error box.
function field(id, label, control, hint) {
  control.id = id;
  const err = el('p', { id: id + '-error', class: 'field-error', hidden: true });
  control.setAttribute('aria-describedby', (hint ? id + '-hint ' : '') + id + '-error');
  return el('div', { class: 'field' },
    el('label', { for: id }, label),
    control,
    hint ? el('p', { id: id + '-hint', class: 'hint' }, hint) : null,
    err);
}

function text(name, attrs) {
  return el('input', Object.assign({ type: 'text', 'data-field': name, autocapitalize: 'none', autocomplete: 'off', spellcheck: 'false' }, attrs || {}));
}

function select(name, options, value) {
  const s = el('select', { 'data-field': name });
  for (const [v, label] of options) s.append(new Option(label, v));
  s.value = value;
  return s;
}

// locationItem builds the list item of location l.
function locationItem(l) {
  const n = ++serial;
  const id = (f) => 'loc-' + n + '-' + f;
  const rd = l.redirect || {};
  const st = l.static || {};
  const item = el('li', { class: 'location' });
  item.extra = Object.fromEntries(Object.entries(l).filter(([k]) => !edited.includes(k)));
  const upstreams = el('textarea', { 'data-field': 'upstreams', rows: '2', autocapitalize: 'none', autocomplete: 'off', spellcheck: 'false' });
  upstreams.value = (l.upstreams || []).join('\n');
  const body = el('textarea', { 'data-field': 'static.body', rows: '3', spellcheck: 'false', class: 'mono' });
  body.value = st.body || '';
  const preserve = el('input', { type: 'checkbox', 'data-field': 'redirect.preserve_path' });
  preserve.checked = !!rd.preserve_path;
  const pathInput = text('path', { placeholder: '/api/*' });
  pathInput.value = l.path || '';
  const strip = text('strip_prefix');
  strip.value = l.strip_prefix || '';
  const reqHeaders = el('textarea', { 'data-field': 'headers.request', rows: '2', autocapitalize: 'none', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  reqHeaders.value = formatHeaders(l.headers && l.headers.request);
  const to = text('redirect.to', { inputmode: 'url', placeholder: 'https://new.example.com' });
  to.value = rd.to || '';
  const status = text('static.status', { inputmode: 'numeric', placeholder: '200' });
  status.value = st.status ? String(st.status) : '';
  const ctype = text('static.content_type', { placeholder: 'text/html; charset=utf-8' });
  ctype.value = st.content_type || '';
  item.append(
    el('div', { class: 'location-head' },
      el('h3', { class: 'location-title' }, 'Path'),
      el('div', { class: 'location-buttons' },
        el('button', { type: 'button', class: 'btn btn-small', 'data-move': 'up' }, 'Up'),
        el('button', { type: 'button', class: 'btn btn-small', 'data-move': 'down' }, 'Down'),
        el('button', { type: 'button', class: 'btn btn-small', 'data-move': 'remove' }, 'Remove'))),
    el('div', { class: 'field-grid' },
      field(id('path'), 'Path', pathInput, 'Exact (/robots.txt) or a prefix ending in * (/api/*).'),
      field(id('kind'), 'Serve with', select('kind', [['proxy', 'Reverse proxy'], ['redirect', 'Redirect'], ['static', 'Fixed response']], l.kind || 'proxy'))),
    el('div', { class: 'location-proxy field-grid' },
      field(id('upstreams'), 'Upstream servers', upstreams, 'One per line, e.g. http://10.0.0.6:8080.'),
      field(id('strip'), 'Strip path prefix', strip, 'E.g. /api: /api/users reaches the upstream as /users.'),
      field(id('reqh'), 'Request headers (to the upstream)', reqHeaders,
        'After the route’s. Name: value sets one, -Name removes one. Values are secrets: once saved nobody sees them again; '
        + 'leave (unchanged) to keep one. A changed path keeps none.')),
    el('div', { class: 'location-redirect field-grid' },
      field(id('to'), 'Redirect to', to),
      field(id('rstatus'), 'Status', select('redirect.status',
        [['308', '308 Permanent'], ['301', '301 Moved permanently'], ['307', '307 Temporary'], ['302', '302 Found']], String(rd.status || 308))),
      el('div', { class: 'field field-check' }, preserve, el('label', { for: id('preserve') }, 'Keep the path and query'))),
    el('div', { class: 'location-static' },
      el('div', { class: 'field-grid' },
        field(id('status'), 'Status', status),
        field(id('ctype'), 'Content type', ctype)),
      field(id('body'), 'Body', body)));
  preserve.id = id('preserve');
  showKind(item);
  return item;
}

// showKind shows the inputs of the item's kind.
function showKind(item) {
  const kind = $('[data-field="kind"]', item).value;
  for (const k of ['proxy', 'redirect', 'static']) $('.location-' + k, item).hidden = kind !== k;
}

// renumber titles the items by their place, for the error summary too.
function renumber() {
  $$('li.location', list).forEach((item, i) => {
    $('.location-title', item).textContent = 'Path ' + (i + 1);
    item.dataset.index = String(i);
    $('[data-move="up"]', item).disabled = i === 0;
    $('[data-move="down"]', item).disabled = !item.nextElementSibling;
    for (const b of $$('button[data-move]', item)) b.setAttribute('aria-label', b.textContent + ': path ' + (i + 1));
  });
}

// fillLocations shows locations ls in the editor.
export function fillLocations(ls) {
  list.replaceChildren(...(ls || []).map(locationItem));
  serverErrors.clear();
  renumber();
}

function value(item, name) {
  return $('[data-field="' + name + '"]', item).value.trim();
}

// readLocations returns the locations as the API takes them, or
// undefined when there are none.
export function readLocations() {
  const out = $$('li.location', list).map((item) => {
    const l = Object.assign({}, item.extra, { path: value(item, 'path'), kind: value(item, 'kind') });
    const headers = Object.assign({}, l.headers);
    delete headers.request;
    if (l.kind === 'proxy') {
      l.upstreams = value(item, 'upstreams').split(/[\s,]+/).filter(Boolean);
      if (value(item, 'strip_prefix')) l.strip_prefix = value(item, 'strip_prefix');
      const req = parseHeaders($('[data-field="headers.request"]', item).value, true).ops;
      if (req) headers.request = req;
    } else if (l.kind === 'redirect') {
      l.redirect = { to: value(item, 'redirect.to'), status: Number(value(item, 'redirect.status')), preserve_path: $('[data-field="redirect.preserve_path"]', item).checked };
    } else {
      l.static = { body: $('[data-field="static.body"]', item).value };
      const st = value(item, 'static.status');
      if (st) l.static.status = /^\d+$/.test(st) ? Number(st) : -1;
      if (value(item, 'static.content_type')) l.static.content_type = value(item, 'static.content_type');
    }
    if (Object.keys(headers).length) l.headers = headers;
    else delete l.headers;
    return l;
  });
  return out.length ? out : undefined;
}

// checkItem returns the page's own errors of a location by field; final
// as for the form's checks (see route-form.js).
function checkItem(item, final, paths) {
  const errs = {};
  const p = value(item, 'path');
  if (!p) {
    if (final) errs.path = 'Enter the path, e.g. /api/*.';
  } else if (!p.startsWith('/')) {
    errs.path = 'Start the path with /, e.g. /api/*.';
  } else if (p.slice(0, -1).includes('*')) {
    errs.path = 'A * may only end the path, as in /api/*.';
  } else if (paths.has(p.toLowerCase())) {
    errs.path = '“' + p + '” is the path of path ' + (paths.get(p.toLowerCase()) + 1) + ' too.';
  }
  const kind = value(item, 'kind');
  if (kind === 'proxy') {
    const ups = value(item, 'upstreams').split(/[\s,]+/).filter(Boolean);
    const bad = ups.find((u) => !/^https?:\/\//i.test(u) && (final || !'https://'.startsWith(u.toLowerCase())));
    if (bad) errs.upstreams = '“' + bad + '” must start with http:// or https://.';
    else if (!ups.length && final) errs.upstreams = 'Enter at least one upstream, e.g. http://10.0.0.6:8080.';
    const sp = value(item, 'strip_prefix');
    if (sp && !sp.startsWith('/')) errs.strip_prefix = 'Start the prefix with /, e.g. /api.';
    const he = requestHeaderError($('[data-field="headers.request"]', item).value);
    if (he) errs['headers.request'] = he;
  } else if (kind === 'redirect') {
    const to = value(item, 'redirect.to');
    if (final && !/^https?:\/\/[^/?#\s]+/i.test(to)) errs['redirect.to'] = 'Enter an absolute URL, e.g. https://new.example.com.';
  } else {
    const st = value(item, 'static.status');
    if (st && (!/^\d{3}$/.test(st) || Number(st) < 200 || Number(st) > 599)) errs['static.status'] = 'Enter a status between 200 and 599.';
  }
  return errs;
}

// applyLocationErrors shows the page's own and the server's errors next
// to the locations' inputs; it returns the inputs in error, in order.
export function applyLocationErrors(submitted) {
  const bad = [];
  const paths = new Map();
  renumber();
  $$('li.location', list).forEach((item, i) => {
    const live = checkItem(item, false, paths);
    const final = checkItem(item, true, paths);
    const p = value(item, 'path').toLowerCase();
    if (p && !paths.has(p)) paths.set(p, i);
    for (const inp of $$('[data-field]', item)) {
      const box = errorBoxOf(inp);
      if (!box) continue;
      let msg = '';
      if (!inp.closest('[hidden]')) {
        const f = inp.dataset.field;
        msg = serverErrors.get(inp) || (submitted || touched.has(inp) ? final[f] : live[f]) || '';
      }
      show(box, msg);
      if (msg) {
        inp.setAttribute('aria-invalid', 'true');
        bad.push(inp);
      } else {
        inp.removeAttribute('aria-invalid');
      }
    }
  });
  show($('#route-locations-error'), serverErrors.get(list) || '');
  return bad;
}

// markLocationError puts the server's message for field (locations[1].path,
// locations[0].redirect.to, …) next to its input and returns the input,
// or null when the field is no location's.
export function markLocationError(field, msg) {
  const m = /^locations(?:\[(\d+)\](?:\.(.*))?)?$/.exec(String(field || ''));
  if (!m) return null;
  const item = m[1] === undefined ? null : $$('li.location', list)[Number(m[1])];
  if (!item) {
    serverErrors.set(list, msg);
    return $('#route-location-add');
  }
  const rest = m[2] || 'path';
  const names = { redirect: 'redirect.to', static: 'static.status', headers: 'path' };
  let inp = null;
  for (let k = rest; k && !inp; k = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : '') {
    inp = $('[data-field="' + (names[k] || k) + '"]', item);
  }
  inp = inp || $('[data-field="path"]', item);
  serverErrors.set(inp, msg);
  return inp;
}

// clearLocationErrors forgets the server's errors.
export function clearLocationErrors() {
  serverErrors.clear();
}

// locationLabel names a location's input for the error summary:
// "Path 2, Upstream servers".
export function locationLabel(inp) {
  const item = inp.closest('li.location');
  const label = $('label[for="' + inp.id + '"]');
  return item ? $('.location-title', item).textContent + ', ' + (label ? label.textContent : inp.dataset.field) : '';
}
