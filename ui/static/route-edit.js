// ProxyOS dashboard: the route editor (create and edit, with live
// validation) and a route's history with roll back.
//
// Route names, hosts, upstreams, bodies and the rest are user data: they
// only ever reach the page through textContent, attribute values and
// input values, never as HTML.

import { authed, errorMessage, NeedLogin, networkError } from './api.js';
import { $, busy, capitalize, el, errorBoxOf, formatDate, relativeTime, rendered, show, stripField, template } from './dom.js';
import { canWrite, displayName, kindLabels, routePath, stale, statusNodes, targetNodes } from './route.js';
import { wireAccessTest, wireTokens } from './route-access.js';
import { wireTraffic } from './route-traffic.js';
import { checks, fillCertificates, fillForm, ids, input, labelOf, loadDNS, managedFields, previewErrorPages, readForm, serverFieldInput, showSections, showTLSStatus } from './route-form.js';
import { applyLocationErrors, clearLocationErrors, fillLocations, locationLabel, markLocationError, readLocations, wireLocations } from './route-locations.js';
import { wireMaintenance } from './route-maintenance.js';
import { sessionOrLogin, shell } from './shell.js';

export default async function routeEditPage(page) {
  const s = await sessionOrLogin();
  const writer = canWrite(s);
  const isNew = location.pathname === '/routes/new';
  const id = new URLSearchParams(location.search).get('id') || '';
  if (!isNew && !id) {
    location.replace('/routes');
    return;
  }

  let loaded = null;
  let loadError = '';
  if (!isNew) {
    const res = await authed('GET', routePath(id));
    if (res.status === 200) loaded = res.data;
    else if (res.status === 404) loadError = 'There is no route with id “' + id + '”. It may have been deleted.';
    else loadError = 'Could not load the route: ' + errorMessage(res);
  }

  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#route-edit');
  const form = $('#route-form');
  const summary = $('#route-error');
  const notice = $('#route-notice');
  const save = $('#route-save');
  await loadDNS(authed);

  if (loadError) {
    show(summary, loadError);
    form.remove();
    $('#route-title').textContent = 'Route not found';
    rendered('route-edit', 'Route not found');
    return;
  }

  if (!writer) {
    $('#route-readonly').hidden = false;
    if (isNew) $('#route-readonly').textContent = 'Your role (viewer) cannot create routes.';
    $('#route-fields').disabled = true;
    for (const c of form.elements) c.disabled = true;
    save.remove();
    $('#route-cancel').textContent = 'Back to routes';
  }
  if (!isNew) save.textContent = 'Save changes';

  // State of the live validation.
  const touched = new Set(); // fields the user has left once
  const serverErrors = new Map(); // field → message from the last 400
  let submitted = false;

  function renderHeader() {
    const title = $('#route-title');
    const meta = $('#route-meta');
    if (!loaded) {
      title.textContent = 'New route';
      return;
    }
    title.textContent = displayName(loaded);
    const parts = ['Version ' + loaded.version];
    const upd = new Date(loaded.updated_at);
    if (!isNaN(upd)) parts.push('updated ' + formatDate(upd));
    meta.textContent = parts.join(' · ');
    meta.hidden = false;
    const live = $('#route-live');
    live.replaceChildren(statusNodes(loaded));
    live.hidden = false;
    showTLSStatus(loaded);
    document.title = displayName(loaded) + ' · ProxyOS';
  }

  // applyErrors shows the client-side and server-side errors; it returns
  // the inputs in error, in form order.
  function applyErrors() {
    const bad = [];
    for (const name of ids) {
      const inp = input(name);
      const box = errorBoxOf(inp);
      if (!box) continue;
      let msg = '';
      const hidden = inp.closest('[hidden]') !== null;
      if (!hidden) {
        msg = serverErrors.get(name) || '';
        if (!msg && checks[name]) msg = checks[name](submitted || touched.has(name));
      }
      show(box, msg);
      if (msg) {
        inp.setAttribute('aria-invalid', 'true');
        bad.push(inp);
      } else {
        inp.removeAttribute('aria-invalid');
      }
    }
    // In form order, the locations' inputs among the others.
    const all = bad.concat(applyLocationErrors(submitted));
    return all.sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
  }

  // fieldLabel names an input in the error summary.
  function fieldLabel(inp) {
    return locationLabel(inp) || labelOf(inp.id.replace(/^route-/, ''));
  }

  form.addEventListener('input', (ev) => {
    const name = ev.target.id ? ev.target.id.replace(/^route-/, '') : '';
    serverErrors.delete(name);
    if (name === 'kind' || name === 'tls' || name === 'challenge' || name === 'rate-key') showSections();
    if (name === 'hosts' || name.startsWith('error-page-')) previewErrorPages();
    applyErrors();
  });
  form.addEventListener('change', (ev) => {
    const name = ev.target.id ? ev.target.id.replace(/^route-/, '') : '';
    if (ev.target.type === 'checkbox' || ev.target.tagName === 'SELECT') touched.add(name);
    if (name === 'kind' || name === 'tls' || name === 'challenge' || name === 'rate-key') showSections();
    applyErrors();
  });
  form.addEventListener('focusout', (ev) => {
    const name = ev.target.id ? ev.target.id.replace(/^route-/, '') : '';
    if (!ids.includes(name)) return;
    // Leaving an untouched, empty field is not a mistake yet.
    if (ev.target.value !== '' || touched.has(name)) touched.add(name);
    applyErrors();
  });

  function load(r) {
    loaded = r;
    fillForm(r);
    fillLocations(r && r.locations);
    previewErrorPages();
    showSections();
    serverErrors.clear();
    clearLocationErrors();
    touched.clear();
    submitted = false;
    applyErrors();
    renderHeader();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!writer) return;
    submitted = true;
    show(summary, '');
    show(notice, '');
    const bad = applyErrors();
    if (bad.length) {
      const first = bad[0];
      const msg = errorBoxOf(first).textContent;
      show(summary, (bad.length === 1 ? '' : 'Check the ' + bad.length + ' highlighted fields. ') + fieldLabel(first) + ': ' + msg);
      first.focus();
      return;
    }
    let body = readForm();
    const locations = readLocations();
    if (locations) body.locations = locations;
    if (loaded) {
      const base = Object.assign({}, loaded);
      delete base.status;
      delete base.tls_status;
      for (const k of managedFields) delete base[k];
      body = Object.assign(base, body, { id: loaded.id, version: loaded.version });
    }
    busy(form, true, isNew ? 'Creating…' : 'Saving…');
    let res;
    try {
      res = isNew ? await authed('POST', '/api/routes', body) : await authed('PUT', routePath(loaded.id), body);
    } catch (err) {
      if (err instanceof NeedLogin) return;
      busy(form, false);
      show(summary, networkError(err));
      summary.focus();
      return;
    }
    if (res.status === 201 || res.status === 200) {
      location.assign('/routes?saved=' + encodeURIComponent(res.data.id || (loaded && loaded.id) || ''));
      return;
    }
    busy(form, false);
    const d = res.data;
    const name = d.field ? serverFieldInput(d.field) : null;
    if (stale(res) && loaded) {
      summary.replaceChildren(
        'This route was changed by someone else since you opened it (you have version ' + loaded.version + '). ',
        el('a', { href: location.pathname + location.search, class: 'route-reload' }, 'Reload it'),
        ' to see the current version; your unsaved changes here will be lost.');
      summary.hidden = false;
      summary.focus();
      return;
    }
    const msg = errorMessage(res);
    const loc = markLocationError(d.field, capitalize(stripField(d.error || '', d.field)));
    if (loc) {
      applyErrors();
      show(summary, (loc.id === 'route-location-add' ? 'Paths' : fieldLabel(loc)) + ': ' + msg);
      loc.focus();
      return;
    }
    if (name && input(name).closest('[hidden]') === null) {
      serverErrors.set(name, capitalize(stripField(d.error || '', d.field)));
      applyErrors();
      show(summary, labelOf(name) + ': ' + msg);
      input(name).focus();
      return;
    }
    show(summary, res.status === 403 ? 'You are not allowed to change routes: ' + msg : msg);
    summary.focus();
  });

  // ---------------------------------------------------------------- history

  const historyBox = $('#route-history');
  const historyList = $('.history-list', historyBox);
  const historyError = $('#route-history-error');

  function versionSummary(r) {
    if (!r) return '';
    const parts = [(r.hosts || []).join(', '), kindLabels[r.kind] || r.kind];
    const t = $('.route-target', targetNodes(r));
    if (t) parts.push(t.textContent);
    if (r.enabled === false) parts.push('disabled');
    return parts.filter(Boolean).join(' · ');
  }

  async function loadHistory() {
    if (!loaded) return;
    historyBox.hidden = false;
    let res;
    try {
      res = await authed('GET', routePath(loaded.id) + '/versions');
    } catch (err) {
      if (err instanceof NeedLogin) return;
      show(historyError, networkError(err));
      return;
    }
    if (res.status !== 200) {
      show(historyError, 'Could not load the history: ' + errorMessage(res));
      return;
    }
    show(historyError, '');
    const versions = Array.isArray(res.data.versions) ? res.data.versions : [];
    historyList.replaceChildren(...versions.map(versionItem));
    if (!versions.length) historyList.append(el('li', { class: 'muted' }, 'No history yet.'));
  }

  function versionItem(v) {
    const current = v.version === loaded.version;
    const at = new Date(v.at);
    const when = el('time', null, isNaN(at) ? String(v.at || '') : formatDate(at));
    if (!isNaN(at)) {
      when.dateTime = at.toISOString();
      when.title = relativeTime(at);
    }
    const head = el('div', { class: 'history-head' },
      el('strong', null, 'Version ' + v.version),
      ' ',
      el('span', { class: 'badge' }, String(v.action || 'changed').replace(/_/g, ' ')),
      current ? el('span', { class: 'badge badge-good' }, 'current') : null);
    const by = el('div', { class: 'history-by small muted' },
      v.actor ? 'by ' + v.actor + ', ' : '', when);
    const li = el('li', { 'data-version': String(v.version) }, el('div', { class: 'history-text' }, head, by,
      el('div', { class: 'history-summary small' }, versionSummary(v.route))));
    if (!current && writer && v.route) {
      const btn = el('button', {
        type: 'button',
        class: 'btn btn-small route-rollback',
        'data-version': String(v.version),
        'aria-label': 'Roll back to version ' + v.version,
      }, 'Roll back to this');
      btn.addEventListener('click', () => rollback(v.version, btn));
      li.append(btn);
    }
    return li;
  }

  async function rollback(version, btn) {
    show(historyError, '');
    show(summary, '');
    btn.disabled = true;
    let res;
    try {
      res = await authed('POST', routePath(loaded.id) + '/rollback', { version: version });
    } catch (err) {
      if (err instanceof NeedLogin) return;
      btn.disabled = false;
      show(historyError, networkError(err));
      return;
    }
    if (res.status !== 200) {
      btn.disabled = false;
      show(historyError, 'Could not roll back to version ' + version + ': ' + errorMessage(res));
      return;
    }
    load(res.data);
    show(notice, 'Rolled back to version ' + version + '; the route is now version ' + res.data.version + ' and live.');
    await loadHistory();
    notice.scrollIntoView({ block: 'nearest' });
  }

  const certs = await authed('GET', '/api/certificates');
  fillCertificates(certs.status === 200 && Array.isArray(certs.data.custom) ? certs.data.custom : []);
  wireLocations(applyErrors);
  load(loaded);
  wireAccessTest();
  if (loaded) {
    wireMaintenance(loaded, writer, (r, base) => {
      // The form keeps its unsaved input; it saves over the new version
      // unless it was already behind.
      if (loaded.version === base) {
        loaded = r;
        renderHeader();
      }
      loadHistory();
    });
  }
  if (loaded) await Promise.all([loadHistory(), wireTokens(loaded.id, writer), wireTraffic(loaded.id, writer)]);
  if (writer) input('name').focus();
  rendered('route-edit', loaded ? displayName(loaded) : 'New route');
}
