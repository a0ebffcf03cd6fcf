// ProxyOS dashboard: the streams page: the list of TCP/UDP streams with
// enable/disable and delete, the form that creates and edits one (server
// errors next to their fields), and a stream's history with roll back.
//
// Stream names, addresses and hosts are user data: they only ever reach
// the page through textContent, attribute values and input values, never
// as HTML.

import { authed, errorMessage, sendFrom as send } from './api.js';
import { confirmDialog } from './dialog.js';
import { $, busy, el, fieldErrors, messages, rendered, show, template, timeEl } from './dom.js';
import { canWrite, stale } from './route.js';
import { sessionOrLogin, shell } from './shell.js';

const tlsLabels = { off: 'Off', terminate: 'Terminate' };

// streamPath is the API path of stream id.
function streamPath(id) {
  return '/api/streams/' + encodeURIComponent(id);
}

// lines splits a textarea into its entries: one per line (commas too).
function lines(text) {
  return text.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

// spec is a stream as the API takes it back: without what only the
// answers carry (live), which the server would refuse as unknown.
function spec(x) {
  const body = Object.assign({}, x);
  delete body.live;
  return body;
}

// stateBadge says whether a stream is disabled, served, or enabled but
// not served on this node (its port was taken when it loaded).
function stateBadge(x) {
  if (!x.enabled) return el('span', { class: 'badge stream-state' }, 'Disabled');
  if (x.live) return el('span', { class: 'badge badge-good stream-state' }, 'Live');
  return el('span', { class: 'badge badge-bad stream-state', title: 'Enabled but not being served on this node' }, 'Not live');
}

function listNodes(items) {
  const ul = el('ul', { class: 'host-list' });
  for (const h of items || []) ul.append(el('li', null, h));
  return ul;
}

export default async function streamsPage(page) {
  const s = await sessionOrLogin();
  const first = await authed('GET', '/api/streams');
  if (first.status !== 200) throw new Error(errorMessage(first));
  let streams = Array.isArray(first.data.streams) ? first.data.streams : [];
  const writer = canWrite(s);

  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#streams');
  const tbody = $('#streams-table tbody', root);
  const notice = $('#streams-notice', root);
  const errorBox = $('#streams-error', root);
  const { fail, done } = messages(notice, errorBox);

  const editor = $('#stream-editor', root);
  const form = $('#stream-form', root);
  const formError = $('#stream-form-error', root);
  const save = $('#stream-save', root);
  const errs = fieldErrors({
    name: '#stream-name', listen: '#stream-listen', upstreams: '#stream-upstreams',
    tls: '#stream-tls', issuer: '#stream-issuer', hosts: '#stream-hosts', enabled: '#stream-enabled',
  });
  let editing = null; // the stream in the form; null for a new one

  const newBtn = $('#stream-new', root);
  if (writer) {
    newBtn.addEventListener('click', () => openEditor(null));
  } else {
    newBtn.remove();
    $('.streams-empty-write', root).remove();
    $('.streams-empty-read', root).hidden = false;
    $('#stream-readonly', root).hidden = false;
    for (const c of form.elements) c.disabled = true;
    save.remove();
    $('#stream-cancel', root).disabled = false;
    $('#stream-cancel', root).textContent = 'Close';
  }

  function row(x) {
    const actions = el('td', { class: 'row-actions', 'data-label': 'Actions' });
    const edit = el('button', { type: 'button', class: 'btn btn-small stream-edit', 'aria-label': (writer ? 'Edit ' : 'View ') + x.name }, writer ? 'Edit' : 'View');
    edit.addEventListener('click', () => openEditor(x));
    actions.append(edit);
    if (writer) {
      const toggle = el('button', { type: 'button', class: 'btn btn-small stream-toggle', 'aria-label': (x.enabled ? 'Disable ' : 'Enable ') + x.name }, x.enabled ? 'Disable' : 'Enable');
      toggle.addEventListener('click', () => toggleStream(x, toggle));
      const del = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet stream-delete', 'aria-label': 'Delete ' + x.name }, 'Delete');
      del.addEventListener('click', () => deleteStream(x, del));
      actions.append(toggle, del);
    }
    return el('tr', { 'data-stream-id': x.id, class: x.enabled ? '' : 'stream-disabled' },
      el('th', { scope: 'row', 'data-label': 'Name' }, el('span', { class: 'stream-name' }, x.name)),
      el('td', { 'data-label': 'Listen', class: 'mono' }, x.listen),
      el('td', { 'data-label': 'Upstreams' }, listNodes(x.upstreams)),
      el('td', { 'data-label': 'TLS' }, tlsLabels[x.tls] || String(x.tls || '')),
      el('td', { 'data-label': 'Hosts' }, (x.hosts || []).length ? listNodes(x.hosts) : el('span', { class: 'muted' }, 'any')),
      el('td', { 'data-label': 'State' }, stateBadge(x)),
      actions);
  }

  function render() {
    tbody.replaceChildren(...streams.map(row));
    $('#streams-empty', root).hidden = streams.length !== 0;
    $('#streams-list', root).hidden = streams.length === 0;
  }

  async function reload() {
    const r = await send(errorBox, 'GET', '/api/streams');
    if (r && r.status === 200 && Array.isArray(r.data.streams)) streams = r.data.streams;
    render();
  }

  function replace(x) {
    streams = streams.some((o) => o.id === x.id) ? streams.map((o) => (o.id === x.id ? x : o)) : streams.concat([x]);
    render();
  }

  // ------------------------------------------------------------- list actions

  async function toggleStream(x, btn) {
    show(errorBox, '');
    btn.disabled = true;
    const r = await send(errorBox, 'PUT', streamPath(x.id), Object.assign(spec(x), { enabled: !x.enabled }));
    if (!r) {
      btn.disabled = false;
      return;
    }
    if (r.status === 200) {
      replace(r.data);
      done((r.data.enabled ? 'Enabled' : 'Disabled') + ' “' + x.name + '”.');
      const again = $('tr[data-stream-id="' + CSS.escape(x.id) + '"] .stream-toggle', root);
      if (again) again.focus();
      if (editing && editing.id === x.id) fill(r.data);
      return;
    }
    if (stale(r) || r.status === 404) {
      await reload();
      fail('“' + x.name + '” was changed or deleted by someone else. The list now shows the current state; try again.');
      return;
    }
    btn.disabled = false;
    fail('Could not ' + (x.enabled ? 'disable' : 'enable') + ' “' + x.name + '”: ' + errorMessage(r));
  }

  async function deleteStream(x, btn) {
    show(errorBox, '');
    const yes = await confirmDialog('Delete stream?',
      'Delete “' + x.name + '” (' + x.listen + ')? Its listener closes at once; connections in flight finish.', 'Delete');
    if (!yes) return;
    btn.disabled = true;
    // With the version read, a stream changed meanwhile is not deleted.
    const r = await send(errorBox, 'DELETE', streamPath(x.id), { version: x.version });
    if (!r) {
      btn.disabled = false;
      return;
    }
    if (r.status === 204 || r.status === 404) {
      streams = streams.filter((o) => o.id !== x.id);
      render();
      if (editing && editing.id === x.id) closeEditor();
      done('Deleted “' + x.name + '”.');
      return;
    }
    if (stale(r)) {
      await reload();
      fail('“' + x.name + '” was changed by someone else, so it was not deleted. The list now shows the current state.');
      return;
    }
    btn.disabled = false;
    fail('Could not delete “' + x.name + '”: ' + errorMessage(r));
  }

  // ------------------------------------------------------------------ editor

  function fill(x) {
    editing = x;
    $('#stream-name', root).value = x ? x.name : '';
    $('#stream-listen', root).value = x ? x.listen : '';
    $('#stream-upstreams', root).value = x ? (x.upstreams || []).join('\n') : '';
    $('#stream-tls', root).value = x ? x.tls || 'off' : 'off';
    $('#stream-issuer', root).value = x && x.issuer ? x.issuer : 'acme';
    showIssuer();
    $('#stream-hosts', root).value = x ? (x.hosts || []).join('\n') : '';
    $('#stream-enabled', root).checked = x ? !!x.enabled : true;
    $('#stream-form-title', root).textContent = x ? (writer ? 'Edit ' : '') + '“' + x.name + '”' : 'New stream';
    const meta = $('#stream-meta', root);
    meta.replaceChildren(...(x ? ['Version ' + x.version + ' · updated ', timeEl(x.updated_at, 'unknown')] : []));
    meta.hidden = !x;
    if (writer) save.textContent = x ? 'Save changes' : 'Create stream';
  }

  function openEditor(x) {
    errs.clear();
    show(formError, '');
    fill(x);
    editor.hidden = false;
    loadHistory();
    editor.scrollIntoView({ block: 'nearest' });
    (writer ? $('#stream-name', root) : $('#stream-cancel', root)).focus();
  }

  function closeEditor() {
    editing = null;
    editor.hidden = true;
  }

  // showIssuer shows the choice of certificates only for tls terminate.
  function showIssuer() {
    $('#stream-issuer-field', root).hidden = $('#stream-tls', root).value !== 'terminate';
  }
  $('#stream-tls', root).addEventListener('change', showIssuer);

  function readForm() {
    const body = {
      name: $('#stream-name', root).value.trim(),
      enabled: $('#stream-enabled', root).checked,
      listen: $('#stream-listen', root).value.trim(),
      upstreams: lines($('#stream-upstreams', root).value),
      tls: $('#stream-tls', root).value,
      hosts: lines($('#stream-hosts', root).value),
    };
    if (body.tls === 'terminate') body.issuer = $('#stream-issuer', root).value;
    return body;
  }

  $('#stream-cancel', root).addEventListener('click', () => {
    const opener = editing && $('tr[data-stream-id="' + CSS.escape(editing.id) + '"] .stream-edit', root);
    closeEditor();
    (opener || newBtn).focus();
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!writer) return;
    errs.clear();
    show(formError, '');
    show(notice, '');
    const body = readForm();
    if (editing) body.version = editing.version;
    busy(form, true, editing ? 'Saving…' : 'Creating…');
    const r = await send(formError, editing ? 'PUT' : 'POST', editing ? streamPath(editing.id) : '/api/streams', body);
    busy(form, false);
    if (!r) return;
    if (r.status === 201 || r.status === 200) {
      replace(r.data);
      closeEditor();
      done((r.status === 201 ? 'Created' : 'Saved') + ' “' + r.data.name + '”.' + (r.data.enabled ? ' It is ' + (r.data.live ? 'live' : 'not live yet') + '.' : ''));
      const again = $('tr[data-stream-id="' + CSS.escape(r.data.id) + '"] .stream-edit', root);
      if (again) again.focus();
      return;
    }
    if (stale(r) && editing) {
      show(formError, 'This stream was changed by someone else since you opened it (you have version ' + editing.version + '). Close the form and open it again to see the current version.');
      formError.focus();
      return;
    }
    const marked = errs.mark(r);
    if (marked) {
      marked.focus();
      return;
    }
    show(formError, (r.status === 403 ? 'You are not allowed to do this: ' : '') + errorMessage(r));
    formError.focus();
  });

  // ----------------------------------------------------------------- history

  const historyBox = $('#stream-history', root);
  const historyList = $('.history-list', historyBox);
  const historyError = $('#stream-history-error', root);

  async function loadHistory() {
    historyBox.hidden = !editing;
    if (!editing) return;
    const r = await send(historyError, 'GET', streamPath(editing.id) + '/versions');
    if (!r) return;
    if (r.status !== 200) {
      show(historyError, 'Could not load the history: ' + errorMessage(r));
      return;
    }
    show(historyError, '');
    const versions = Array.isArray(r.data.versions) ? r.data.versions : [];
    historyList.replaceChildren(...versions.map(versionItem));
  }

  function versionItem(v) {
    const current = editing && v.version === editing.version;
    const x = v.stream || {};
    const head = el('div', { class: 'history-head' },
      el('strong', null, 'Version ' + v.version), ' ',
      el('span', { class: 'badge' }, String(v.action || 'changed')),
      current ? el('span', { class: 'badge badge-good' }, 'current') : null);
    const by = el('div', { class: 'history-by small muted' }, v.actor ? 'by ' + v.actor + ', ' : '', timeEl(v.at, ''));
    const what = [x.listen, '→ ' + (x.upstreams || []).join(', '), x.tls === 'terminate' ? 'TLS terminate (' + (x.issuer || 'acme') + ')' : '', (x.hosts || []).join(', '), x.enabled === false ? 'disabled' : '']
      .filter(Boolean).join(' · ');
    const li = el('li', { 'data-version': String(v.version) },
      el('div', { class: 'history-text' }, head, by, el('div', { class: 'history-summary small mono' }, what)));
    if (!current && writer && v.stream) {
      const btn = el('button', { type: 'button', class: 'btn btn-small stream-rollback', 'aria-label': 'Roll back to version ' + v.version }, 'Roll back to this');
      btn.addEventListener('click', () => rollback(v.version, btn));
      li.append(btn);
    }
    return li;
  }

  async function rollback(version, btn) {
    show(historyError, '');
    btn.disabled = true;
    const r = await send(historyError, 'POST', streamPath(editing.id) + '/rollback', { version: version });
    btn.disabled = false;
    if (!r) return;
    if (r.status !== 200) {
      show(historyError, 'Could not roll back to version ' + version + ': ' + errorMessage(r));
      return;
    }
    replace(r.data);
    fill(r.data);
    await loadHistory();
    done('Rolled back “' + r.data.name + '” to version ' + version + '; it is now version ' + r.data.version + '.');
  }

  render();
  rendered('streams', 'Streams');
}
