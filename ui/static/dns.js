// ProxyOS dashboard: the DNS providers page (admins). It stores the
// credentials of the DNS provider modules this Caddy was built with, for
// routes whose certificates are obtained with the DNS-01 challenge.
//
// A credential's config (API tokens) is write-only: the server never
// sends it back, and the page clears the field once it is saved.
// Names come from the server and reach the page only through
// textContent.

import { authed, errorMessage, sendFrom as send } from './api.js';
import { confirmDialog } from './dialog.js';
import { $, busy, el, fieldErrors, messages, rendered, show, template, timeEl as when } from './dom.js';
import { sessionOrLogin, shell } from './shell.js';

export default async function dnsPage(page) {
  const s = await sessionOrLogin();
  const info = await authed('GET', '/api/dns');
  if (info.status !== 200) throw new Error(errorMessage(info));
  const first = await authed('GET', '/api/dns/credentials');
  if (first.status !== 200 && first.status !== 403) throw new Error(errorMessage(first));

  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#dns');
  const notice = $('#dns-notice', root);
  const errorBox = $('#dns-error', root);
  const form = $('#dns-form', root);
  const list = $('#dns-list', root);
  const { fail, done } = messages(notice, errorBox);
  const errs = fieldErrors({ name: '#dns-name', provider: '#dns-provider', config: '#dns-config' });

  const providers = info.data.providers || [];
  $('#dns-providers', root).textContent = providers.length ? providers.join(', ') : 'none';
  $('#dns-default', root).textContent = info.data.default || 'none';
  $('#dns-add', root).textContent = info.data.add_provider || '';
  const select = $('#dns-provider', root);
  select.replaceChildren(...providers.map((p) => new Option(p, p)));
  if (first.status === 403 || !providers.length) $('#dns-create-card', root).hidden = true;

  function row(c) {
    const head = el('div', { class: 'history-head' }, el('strong', { class: 'dns-name' }, c.name), el('span', { class: 'badge' }, c.provider));
    const used = (c.used_by || []).length ? 'used by ' + c.used_by.join(', ') : 'not used by any route';
    const facts = el('div', { class: 'small muted' }, 'updated ', when(c.updated_at, 'unknown'), ' · ', used);
    const li = el('li', { 'data-dns-name': c.name }, el('div', { class: 'history-text' }, head, facts));
    const btn = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet dns-delete', 'aria-label': 'Delete the credential ' + c.name }, 'Delete');
    btn.addEventListener('click', () => remove(c, btn));
    li.append(btn);
    return li;
  }

  function render(creds) {
    list.replaceChildren(...creds.map(row));
    $('#dns-count', root).textContent = creds.length ? creds.length + ' credential' + (creds.length === 1 ? '' : 's') : 'No credentials yet.';
  }

  async function reload() {
    const r = await send(errorBox, 'GET', '/api/dns/credentials');
    if (r && r.status === 200) render(r.data.credentials || []);
    else if (r) fail('Could not load the credentials: ' + errorMessage(r));
  }

  async function remove(c, btn) {
    show(notice, '');
    show(errorBox, '');
    if (!await confirmDialog('Delete credential?', 'Delete the DNS credential “' + c.name + '”?', 'Delete')) return;
    btn.disabled = true;
    const r = await send(errorBox, 'DELETE', '/api/dns/credentials/' + encodeURIComponent(c.name), {});
    btn.disabled = false;
    if (!r) return;
    if (r.status === 204) {
      await reload();
      done('Deleted the DNS credential “' + c.name + '”.');
      return;
    }
    fail(errorMessage(r));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errs.clear();
    show(notice, '');
    show(errorBox, '');
    const text = $('#dns-config', root).value.trim() || '{}';
    let config;
    try {
      config = JSON.parse(text);
    } catch {
      errs.mark({ data: { field: 'config', error: 'config: not valid JSON' } }).focus();
      return;
    }
    const body = { name: $('#dns-name', root).value.trim(), provider: select.value, config: config };
    busy(form, true, 'Saving…');
    const r = await send(errorBox, 'POST', '/api/dns/credentials', body);
    busy(form, false);
    if (!r) return;
    if (r.status === 201) {
      form.reset();
      await reload();
      done('Stored the DNS credential “' + body.name + '”. Routes can use it with the DNS-01 challenge.');
      return;
    }
    const marked = errs.mark(r);
    if (marked) marked.focus();
    else fail(errorMessage(r));
  });

  render(first.status === 200 ? first.data.credentials || [] : []);
  rendered('dns', 'DNS providers');
}
