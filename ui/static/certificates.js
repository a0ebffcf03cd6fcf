// ProxyOS dashboard: the certificates page. Every name the routes serve
// over HTTPS with its certificate (issuer, validity, renewal, the latest
// attempt with the CA's error verbatim) and, for operators, "Renew now";
// the custom certificates, their upload and deletion; the internal CA's
// root certificate with instructions to trust it.
//
// Names, CA errors and certificate details come from the server: they
// reach the page only through textContent and attribute values, never as
// HTML. A private key is sent once, on upload, and the field is emptied
// afterwards; the API never returns it.

import { authed, errorMessage, sendFrom as send } from './api.js';
import { confirmDialog } from './dialog.js';
import { $, busy, el, fieldErrors, messages, rendered, show, template, timeEl } from './dom.js';
import { sessionOrLogin, shell } from './shell.js';

const issuerLabels = { acme: 'ACME CA', internal: 'Internal CA', custom: 'Custom' };
const managedLabels = { on_demand: 'on demand', dns: 'DNS-01, in the background', custom: 'uploaded', wildcard: 'wildcard' };

// canChange reports whether the role may upload, delete and renew.
function canChange(role) {
  return role === 'operator' || role === 'admin';
}

function issuerCell(e) {
  const td = el('td', { 'data-label': 'Issuer' }, issuerLabels[e.issuer] || (e.issuer ? String(e.issuer) : 'none yet'));
  if (e.certificate && e.certificate.issuer) td.append(el('div', { class: 'small muted' }, e.certificate.issuer));
  td.append(el('div', { class: 'small muted' }, 'TLS ' + e.mode + ', ' + (managedLabels[e.managed] || e.managed)));
  if (e.pending) td.append(el('div', { class: 'small' }, 'replaced at the next connection (the route\'s TLS changed)'));
  return td;
}

function validCell(e) {
  const td = el('td', { 'data-label': 'Valid' });
  if (!e.certificate) {
    td.append(el('span', { class: 'muted' }, 'no certificate yet'));
    return td;
  }
  td.append('until ', timeEl(e.certificate.not_after));
  if (e.expires_soon) td.append(' ', el('span', { class: 'badge badge-bad cert-expiring' }, 'expires soon'));
  td.append(el('div', { class: 'small muted' }, 'from ', timeEl(e.certificate.not_before)));
  return td;
}

function renewalCell(e) {
  const td = el('td', { 'data-label': 'Renewal' });
  if (e.managed === 'custom') td.append(el('span', { class: 'muted' }, 'by hand: replace it'));
  else if (e.next_renewal) td.append('from ', timeEl(e.next_renewal));
  else td.append(el('span', { class: 'muted' }, 'at the first connection'));
  return td;
}

function attemptCell(e) {
  const td = el('td', { 'data-label': 'Last attempt' });
  const a = e.last_attempt;
  if (!a) {
    td.append(el('span', { class: 'muted' }, e.managed === 'custom' ? '—' : 'none on this node'));
    return td;
  }
  if (!a.error) {
    td.append(el('span', { class: 'badge badge-good' }, 'succeeded'), ' ', timeEl(a.at));
    return td;
  }
  td.append(el('span', { class: 'badge badge-bad cert-failing' }, 'failed'), ' ', timeEl(a.at));
  if (a.failures > 1) td.append(el('span', { class: 'small muted' }, ' (' + a.failures + ' times)'));
  td.append(el('pre', { class: 'cert-error' }, a.error));
  if (e.retry) td.append(el('div', { class: 'small muted' }, 'Retried ' + e.retry + '.'));
  return td;
}

export default async function certificatesPage(page) {
  const s = await sessionOrLogin();
  const first = await authed('GET', '/api/certificates');
  if (first.status !== 200) throw new Error(errorMessage(first));
  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#certificates');
  const notice = $('#certs-notice', root);
  const errorBox = $('#certs-error', root);
  const form = $('#certs-upload-form', root);
  const changer = canChange(s.user.role);
  $('#certs-upload-card', root).hidden = !changer;
  const { fail, done } = messages(notice, errorBox);
  const errs = fieldErrors({ name: '#certs-name', chain: '#certs-chain', key: '#certs-key' });

  function servedRow(e) {
    const actions = el('td', { class: 'row-actions' });
    if (changer && (e.managed === 'dns' || (e.managed === 'on_demand' && !e.name.startsWith('*.')))) {
      const btn = el('button', { type: 'button', class: 'btn btn-small cert-renew', 'aria-label': 'Renew the certificate of ' + e.name + ' now' }, 'Renew now');
      btn.addEventListener('click', () => renew(e, btn));
      actions.append(btn);
    }
    return el('tr', { 'data-name': e.name, 'data-failing': String(!!e.failing) },
      el('th', { scope: 'row', 'data-label': 'Name' }, el('span', { class: 'cert-name' }, e.name)),
      issuerCell(e), validCell(e), renewalCell(e), attemptCell(e), actions);
  }

  function customRow(c) {
    const names = Array.isArray(c.names) ? c.names : [];
    const routes = Array.isArray(c.routes) ? c.routes : [];
    const head = el('div', { class: 'history-head' }, el('strong', { class: 'cert-custom-name' }, c.name));
    if (c.expires_soon) head.append(el('span', { class: 'badge badge-bad' }, 'expires soon'));
    const facts = el('div', { class: 'small muted' },
      names.join(', '), ' · by ', c.issuer || 'unknown', ' · valid until ', timeEl(c.not_after),
      ' · ', routes.length ? 'served by ' + routes.length + ' route' + (routes.length === 1 ? '' : 's') : 'not used by a route');
    const li = el('li', { 'data-certificate-id': c.id }, el('div', { class: 'history-text' }, head, facts,
      el('div', { class: 'small muted' }, 'id ', el('code', null, c.id))));
    if (changer) {
      const btn = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet cert-delete', 'aria-label': 'Delete the certificate ' + c.name }, 'Delete');
      btn.disabled = routes.length > 0;
      if (routes.length) btn.title = 'Switch its routes to another TLS mode first';
      btn.addEventListener('click', () => remove(c, btn));
      li.append(btn);
    }
    return li;
  }

  function render(data) {
    const served = Array.isArray(data.served) ? data.served : [];
    const custom = Array.isArray(data.custom) ? data.custom : [];
    $('#certs-served tbody', root).replaceChildren(...served.map(servedRow));
    $('#certs-served-list', root).hidden = served.length === 0;
    $('#certs-served-empty', root).hidden = served.length !== 0;
    $('#certs-custom', root).replaceChildren(...custom.map(customRow));
    $('#certs-custom-empty', root).hidden = custom.length !== 0;
  }

  async function reload() {
    const r = await send(errorBox, 'GET', '/api/certificates');
    if (!r) return false;
    if (r.status !== 200) {
      fail('Could not load the certificates: ' + errorMessage(r));
      return false;
    }
    render(r.data);
    return true;
  }

  async function renew(e, btn) {
    show(notice, '');
    show(errorBox, '');
    btn.disabled = true;
    btn.textContent = 'Renewing…';
    const r = await send(errorBox, 'POST', '/api/certificates/renew', { name: e.name });
    btn.disabled = false;
    btn.textContent = 'Renew now';
    if (!r) return;
    await reload();
    if (r.status === 200 || r.status === 204) done('Renewed the certificate of ' + e.name + '.');
    else fail('Renewing ' + e.name + ' failed: ' + errorMessage(r));
  }

  async function remove(c, btn) {
    show(notice, '');
    show(errorBox, '');
    const yes = await confirmDialog('Delete certificate?', 'Delete the certificate “' + c.name + '” and its private key? This cannot be undone.', 'Delete');
    if (!yes) return;
    btn.disabled = true;
    const r = await send(errorBox, 'DELETE', '/api/certificates/' + encodeURIComponent(c.id), {});
    if (!r) {
      btn.disabled = false;
      return;
    }
    if (r.status === 204 || r.status === 404) {
      await reload();
      done('Deleted the certificate “' + c.name + '”.');
      return;
    }
    btn.disabled = false;
    fail(errorMessage(r));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errs.clear();
    show(notice, '');
    show(errorBox, '');
    const body = { name: $('#certs-name', root).value.trim(), chain: $('#certs-chain', root).value, key: $('#certs-key', root).value };
    busy(form, true, 'Uploading…');
    const r = await send(errorBox, 'POST', '/api/certificates', body);
    busy(form, false);
    if (!r) return;
    if (r.status === 201) {
      form.reset();
      await reload();
      done('Uploaded the certificate “' + r.data.name + '”. Choose it in a route with TLS custom.');
      return;
    }
    const field = errs.mark(r);
    if (field) field.focus();
    else fail(errorMessage(r));
  });

  $('#certs-refresh', root).addEventListener('click', async () => {
    if (await reload()) done('Updated.');
  });

  render(first.data);
  rendered('certificates', 'Certificates');
}
