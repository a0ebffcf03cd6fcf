// ProxyOS dashboard: the import and export page (operators and admins).
//
// Export downloads GET /api/export's document. Import reads a file in the
// browser (FileReader; Nginx Proxy Manager's database as base64), asks
// the server for a dry run (POST /api/import?dry_run=1) and shows its
// plan; Apply sends the same body again without dry_run. The server
// decides everything: a plan with a refused route cannot be applied (the
// server refuses it as a whole; the page does not offer it).
//
// Route names, hosts, refusal reasons and the importer's notes come from
// the file: they reach the page only through textContent.

import { authed, errorMessage, sendFrom as send } from './api.js';
import { confirmDialog } from './dialog.js';
import { $, busy, el, fieldErrors, messages, rendered, show, template } from './dom.js';
import { sessionOrLogin, shell } from './shell.js';

// formats name the import formats for messages.
const formats = { json: 'ProxyOS export', npm: 'Nginx Proxy Manager database', caddyfile: 'Caddyfile' };

// guessFormat tells the format of a file from its name, or '' when the
// name does not say.
function guessFormat(name) {
  const n = String(name || '').toLowerCase();
  if (n.endsWith('.json')) return 'json';
  if (/\.(sqlite3?|db)$/.test(n)) return 'npm';
  if (n === 'caddyfile' || n.startsWith('caddyfile.') || n.endsWith('.caddyfile') || n.endsWith('.caddy')) return 'caddyfile';
  return '';
}

// readFile reads a file as text, or as base64 when binary is true.
function readFile(file, binary) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(binary ? String(r.result).replace(/^data:[^,]*,/, '') : String(r.result));
    r.onerror = () => reject(r.error || new Error('could not read the file'));
    if (binary) r.readAsDataURL(file);
    else r.readAsText(file);
  });
}

// importBody turns a file of format from into the import request's body.
// It throws an Error whose message names what is wrong with the file.
async function importBody(file, from) {
  if (from === 'npm') return { database: await readFile(file, true) };
  const text = await readFile(file, false);
  if (from === 'caddyfile') return { caddyfile: text };
  try {
    return JSON.parse(text);
  } catch (_) {
    throw new Error('not a JSON document; choose the format of the file');
  }
}

// valueText shows a field's value of a plan's change.
function valueText(v) {
  if (v === undefined || v === null || v === '') return 'none';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// routeLabel is a planned route's name and hosts.
function routeLabel(r) {
  const hosts = (r.hosts || []).join(', ');
  const named = r.name && r.name !== hosts && r.name !== (r.hosts || [])[0];
  return named ? r.name + ' (' + hosts + ')' : hosts || r.name || r.id || '';
}

// planRow is one route of a plan: its name and hosts, and for a changed
// route its fields before and after.
function planRow(r) {
  const li = el('li', { 'data-plan-route': (r.hosts || [])[0] || r.name || '' },
    el('div', { class: 'history-text' }, el('strong', null, routeLabel(r))));
  if (r.changes && r.changes.length) {
    li.firstChild.append(el('ul', { class: 'plan-changes' }, ...r.changes.map((c) =>
      el('li', { 'data-field': c.field }, el('code', null, c.field), ': ',
        el('span', { class: 'plan-before' }, valueText(c.before)), ' → ',
        el('span', { class: 'plan-after' }, valueText(c.after))))));
  }
  return li;
}

// refusalRow is one refused route: its place in the file, the field and
// the reason.
function refusalRow(r) {
  const where = 'routes[' + r.index + '] ' + routeLabel(r);
  return el('li', { 'data-plan-route': (r.hosts || [])[0] || r.name || '' },
    el('div', { class: 'history-text' }, el('strong', null, where),
      el('div', { class: 'plan-reason' }, r.field ? el('code', null, r.field) : null, r.field ? ': ' : '', r.reason || '')));
}

// sections are the plan's lists in the order the page shows them.
const sections = [
  ['refused', 'Refused'], ['added', 'Added'], ['changed', 'Changed'], ['removed', 'Removed'], ['unchanged', 'Unchanged'],
];

// summary counts a plan like the CLI does.
function summary(plan, dryRun) {
  const n = (k) => (plan[k] || []).length;
  const counts = n('added') + ' added, ' + n('changed') + ' changed, ' + n('unchanged') + ' unchanged, ' +
    n('removed') + ' removed, ' + n('refused') + ' refused';
  if (dryRun) return counts + '. Preview: nothing has changed yet.';
  return counts + '. Applied: the routes are stored and live.';
}

export default async function importPage(page) {
  const s = await sessionOrLogin();
  const content = await shell(s);
  if (s.user.role !== 'admin' && s.user.role !== 'operator') {
    content.append(el('section', { id: 'import', class: 'stack' },
      el('h1', null, 'Import and export'),
      el('p', { class: 'notice notice-info' }, 'Only operators and admins can import and export routes.')));
    rendered('import', 'Import and export');
    return;
  }
  content.append(template(page.template));
  const root = $('#import');
  const notice = $('#import-notice', root);
  const errorBox = $('#import-error', root);
  const { fail, done } = messages(notice, errorBox);
  const errs = fieldErrors({ database: '#import-file', caddyfile: '#import-file', body: '#import-file', from: '#import-from' });
  const exportForm = $('#export-form', root);
  const form = $('#import-form', root);
  const fileInput = $('#import-file', root);
  const fromSelect = $('#import-from', root);
  const removeBox = $('#import-remove', root);
  const result = $('#import-result', root);
  const applyBtn = $('#import-apply', root);
  $('#export-users-field', root).hidden = s.user.role !== 'admin';

  // pending is the request the preview shows, which Apply sends.
  let pending = null;

  function clearResult() {
    pending = null;
    result.hidden = true;
    applyBtn.hidden = true;
    $('#import-plan', root).replaceChildren();
    $('#import-notes', root).replaceChildren();
  }

  function showResult(data, dryRun) {
    const plan = data.plan || {};
    const refused = (plan.refused || []).length > 0;
    $('#import-result-title', root).textContent = dryRun ? 'Preview' : 'Applied';
    result.dataset.state = dryRun ? (refused ? 'refused' : 'preview') : 'applied';
    $('#import-summary', root).textContent = summary(plan, dryRun);
    $('#import-refused-notice', root).hidden = !refused;
    const lists = [];
    for (const [key, title] of sections) {
      const items = plan[key] || [];
      if (!items.length) continue;
      lists.push(el('div', { 'data-plan': key },
        el('h3', null, title + ' (' + items.length + ')'),
        el('ul', { class: 'history-list plan-list' }, ...items.map((r) => key === 'refused' ? refusalRow(r) : planRow(r)))));
    }
    $('#import-plan', root).replaceChildren(...lists);
    const notes = data.notes || [];
    $('#import-notes', root).replaceChildren(...notes.map((n) =>
      el('li', null, el('div', { class: 'history-text' }, el('strong', null, n.source || ''), el('div', { class: 'plan-reason' }, n.reason || '')))));
    $('#import-notes-box', root).hidden = !notes.length;
    applyBtn.hidden = !dryRun || refused;
    result.hidden = false;
    result.scrollIntoView({ block: 'start' });
  }

  fileInput.addEventListener('change', () => {
    clearResult();
    errs.clear();
    const f = fileInput.files[0];
    const guess = f ? guessFormat(f.name) : '';
    if (guess) fromSelect.value = guess;
  });
  fromSelect.addEventListener('change', clearResult);
  removeBox.addEventListener('change', clearResult);

  exportForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    show(notice, '');
    show(errorBox, '');
    const users = s.user.role === 'admin' && $('#export-users', root).checked;
    busy(exportForm, true, 'Exporting…');
    const r = await send(errorBox, 'GET', '/api/export' + (users ? '?users=1' : ''));
    busy(exportForm, false);
    if (!r) return;
    if (r.status !== 200) {
      fail('Could not export: ' + errorMessage(r));
      return;
    }
    const blob = new Blob([JSON.stringify(r.data, null, 2) + '\n'], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: 'proxyos-export-' + new Date().toISOString().slice(0, 10) + '.json', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    const n = (r.data.routes || []).length;
    done('Downloaded the export: ' + n + ' route' + (n === 1 ? '' : 's') + (users ? ', with users and API keys' : '') + '.');
  });

  // run sends the import: a dry run for Preview, else the real one.
  async function run(body, from, remove, dryRun) {
    const q = new URLSearchParams({ from: from });
    if (dryRun) q.set('dry_run', '1');
    if (remove) q.set('remove', '1');
    return send(errorBox, 'POST', '/api/import?' + q.toString(), body);
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errs.clear();
    show(notice, '');
    show(errorBox, '');
    clearResult();
    const file = fileInput.files[0];
    if (!file) {
      errs.mark({ data: { field: 'body', error: 'choose a file to import' } }).focus();
      return;
    }
    const from = fromSelect.value;
    const remove = removeBox.checked;
    busy(form, true, 'Checking…');
    let body;
    try {
      body = await importBody(file, from);
    } catch (err) {
      busy(form, false);
      errs.mark({ data: { field: 'body', error: file.name + ': ' + (err.message || String(err)) } }).focus();
      return;
    }
    const r = await run(body, from, remove, true);
    busy(form, false);
    if (!r) return;
    if (r.status !== 200) {
      const marked = errs.mark(r);
      if (marked) marked.focus();
      else fail('Could not read the ' + formats[from] + ': ' + errorMessage(r));
      return;
    }
    pending = { body: body, from: from, remove: remove };
    showResult(r.data, true);
  });

  applyBtn.addEventListener('click', async () => {
    if (!pending) return;
    show(notice, '');
    show(errorBox, '');
    const p = pending;
    const removed = $('[data-plan="removed"] > ul', root);
    const n = removed ? removed.children.length : 0;
    if (n && !await confirmDialog('Delete routes?', 'Applying deletes ' + n + ' route' + (n === 1 ? '' : 's') + ' the file does not have.', 'Apply and delete')) return;
    applyBtn.disabled = true;
    applyBtn.textContent = 'Applying…';
    const r = await run(p.body, p.from, p.remove, false);
    applyBtn.disabled = false;
    applyBtn.textContent = 'Apply';
    if (!r) return;
    if (r.status !== 200) {
      fail('Nothing was changed: ' + errorMessage(r));
      return;
    }
    pending = null;
    showResult(r.data, false);
    done('Imported from the ' + formats[p.from] + '.');
  });

  rendered('import', 'Import and export');
}
