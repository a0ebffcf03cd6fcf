// ProxyOS dashboard: the API keys page (every logged-in user, for their
// own keys; admins also see and revoke another user's with ?user_id=).
//
// Key names are user data: they reach the page only through textContent
// and attribute values, never as HTML. A new key's secret is shown once,
// in a read-only field, and dropped from the page when the user is done.

import { authed, errorMessage, sendFrom as send } from './api.js';
import { confirmDialog } from './dialog.js';
import { $, busy, copyText, el, fieldErrors, messages, rendered, show, template, timeEl as when, wirePasswordReveal } from './dom.js';
import { passwordless, sessionOrLogin, shell } from './shell.js';

// scopeLabels say what each scope allows. Scopes the server adds later
// are offered with their name alone.
const scopeLabels = {
  'routes:read': 'List and read routes',
  'routes:write': 'Create, change and delete routes',
  'users:read': 'List users',
  'users:write': 'Create, change and delete users',
  'audit:read': 'Read the audit log',
  admin: 'Everything an admin can do',
};

// expiryLabels name the expiry choices of the form for messages.
const expiryLabels = { '': 'never expires', '720h': 'expires in 30 days', '2160h': 'expires in 90 days', '8760h': 'expires in 1 year' };

// keyStatus says whether a key still works: revoked, expired or active.
function keyStatus(k) {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at && new Date(k.expires_at).getTime() <= Date.now()) return 'expired';
  return 'active';
}

export default async function keysPage(page) {
  const s = await sessionOrLogin();
  // Admins look at another user's keys with ?user_id=: they can revoke
  // them; only their owner creates keys.
  const asked = new URLSearchParams(location.search).get('user_id') || '';
  const other = s.user.role === 'admin' && asked !== s.user.id ? asked : '';
  const listPath = '/api/keys' + (other ? '?user_id=' + encodeURIComponent(other) : '');
  const first = await authed('GET', listPath);
  if (first.status !== 200) throw new Error(errorMessage(first));
  let owner = null;
  if (other) {
    const u = await authed('GET', '/api/users/' + encodeURIComponent(other));
    if (u.status !== 200) throw new Error(errorMessage(u));
    owner = u.data;
  }

  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#keys');
  wirePasswordReveal(root);
  if (owner) {
    $('#keys-title', root).textContent = 'API keys of ' + owner.email;
    show($('#keys-other', root), 'You are looking at the keys of ' + owner.email + ' as an admin. You can revoke them; only ' + owner.email + ' can create keys for their account.');
    $('#keys-back', root).hidden = false;
    $('#keys-intro', root).hidden = true;
    $('#key-create-card', root).hidden = true;
    $('#keys-list-title', root).textContent = 'Keys';
  }
  let noPassword = false;
  if (!owner) {
    const me = await authed('GET', '/api/account');
    noPassword = me.status === 200 && passwordless(me.data, $('#keys-signin-note', root), location.pathname);
    $('#key-password-field', root).hidden = noPassword;
  }
  const list = $('#keys-list', root);
  const notice = $('#keys-notice', root);
  const errorBox = $('#keys-error', root);
  const form = $('#key-create-form', root);
  const created = $('#key-created', root);
  const secret = $('#key-secret', root);
  let keys = [];

  const { fail, done } = messages(notice, errorBox);

  // Field errors of the create form: the API's field names and their
  // fields (the scopes' error belongs to the fieldset).
  const errs = fieldErrors({ name: '#key-name', scopes: '#key-scopes', expires_in: '#key-expiry', password: '#key-password' });

  // markError shows a problem the page found before asking the server.
  function markError(field, msg) {
    return errs.mark({ data: { field: field, error: msg } });
  }

  // renderScopes offers a checkbox for each scope the user may grant.
  function renderScopes(grantable) {
    const box = $('#key-scope-list', root);
    const checked = new Set(selectedScopes());
    box.replaceChildren(...grantable.map((sc) => {
      const id = 'key-scope-' + sc.replace(/[^a-z0-9]+/gi, '-');
      const input = el('input', { id: id, type: 'checkbox', name: 'scopes', value: sc });
      input.checked = checked.has(sc);
      return el('div', { class: 'field-check scope' },
        input,
        el('label', { for: id }, el('code', null, sc)),
        el('p', { class: 'hint' }, scopeLabels[sc] || ''));
    }));
    $('#key-scopes-none', root).hidden = grantable.length > 0;
    $('#key-create', root).disabled = grantable.length === 0;
  }

  function selectedScopes() {
    return Array.from(root.querySelectorAll('#key-scope-list input:checked')).map((i) => i.value);
  }

  function row(k) {
    const st = keyStatus(k);
    const head = el('div', { class: 'history-head' },
      el('strong', { class: 'key-name' }, k.name),
      el('span', { class: 'badge key-status ' + (st === 'active' ? 'badge-good' : 'badge-bad') }, st));
    const scopes = el('ul', { class: 'scope-badges' },
      ...(Array.isArray(k.scopes) ? k.scopes : []).map((sc) => el('li', null, el('code', null, sc))));
    const expires = st === 'revoked'
      ? ['revoked ', when(k.revoked_at, '')]
      : [st === 'expired' ? 'expired ' : 'expires ', when(k.expires_at, 'never')];
    const facts = el('div', { class: 'small muted key-facts' },
      'created ', when(k.created_at, 'unknown'), ' · ', ...expires,
      ' · last used ', when(k.last_used_at, 'never'));
    const li = el('li', { 'data-key-id': k.id, 'data-status': st }, el('div', { class: 'history-text' }, head, scopes, facts));
    if (st !== 'revoked') {
      const btn = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet key-revoke', 'aria-label': 'Revoke the key ' + k.name }, 'Revoke');
      btn.addEventListener('click', () => revoke(k, btn));
      li.append(btn);
    }
    return li;
  }

  function render(data) {
    keys = Array.isArray(data.keys) ? data.keys : [];
    renderScopes(Array.isArray(data.grantable_scopes) ? data.grantable_scopes.map(String) : []);
    list.replaceChildren(...keys.map(row));
    const active = keys.filter((k) => keyStatus(k) === 'active').length;
    $('#keys-count', root).textContent = keys.length
      ? keys.length + ' key' + (keys.length === 1 ? '' : 's') + ', ' + active + ' active'
      : 'No keys yet.';
  }

  async function reload() {
    const r = await send(errorBox, 'GET', listPath);
    if (!r) return;
    if (r.status !== 200) {
      fail('Could not load your keys: ' + errorMessage(r));
      return;
    }
    render(r.data);
  }

  async function revoke(k, btn) {
    show(notice, '');
    show(errorBox, '');
    const yes = await confirmDialog('Revoke key?',
      'Revoke the key “' + k.name + '”? Scripts that use it get 401 from now on; this cannot be undone.', 'Revoke');
    if (!yes) return;
    btn.disabled = true;
    const r = await send(errorBox, 'DELETE', '/api/keys/' + encodeURIComponent(k.id), {});
    if (!r) {
      btn.disabled = false;
      return;
    }
    if (r.status === 204 || r.status === 404) {
      await reload();
      done(r.status === 204 ? 'Revoked the key “' + k.name + '”.' : 'The key “' + k.name + '” no longer exists.');
      if (!owner) $('#key-name', root).focus();
      return;
    }
    btn.disabled = false;
    fail(errorMessage(r));
  }

  // hideSecret drops the new key from the page.
  function hideSecret() {
    secret.value = '';
    created.hidden = true;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errs.clear();
    show(notice, '');
    show(errorBox, '');
    hideSecret();
    const body = {
      name: $('#key-name', root).value.trim(),
      scopes: selectedScopes(),
      expires_in: $('#key-expiry', root).value,
      password: $('#key-password', root).value,
    };
    if (!body.name) {
      markError('name', 'give the key a name').focus();
      return;
    }
    if (!body.scopes.length) {
      markError('scopes', 'choose at least one scope').focus();
      return;
    }
    if (!body.password && !noPassword) {
      markError('password', 'enter your password to confirm').focus();
      return;
    }
    busy(form, true, 'Creating…');
    const r = await send(errorBox, 'POST', '/api/keys', body);
    busy(form, false);
    if (!r) return;
    if (r.status === 201 || r.status === 200) {
      const k = r.data.api_key || {};
      form.reset();
      await reload();
      $('#key-created-name', root).textContent = '“' + (k.name || body.name) + '” (' + (expiryLabels[body.expires_in] || 'expires as chosen') + ')';
      secret.value = String(r.data.key || '');
      created.hidden = false;
      secret.focus();
      secret.select();
      return;
    }
    const marked = errs.mark(r);
    if (marked) marked.focus();
    else fail(errorMessage(r));
  });

  const copy = $('#key-copy', root);
  copy.addEventListener('click', async () => {
    const ok = await copyText(copy, secret.value, secret);
    $('#key-copy-status', root).textContent = ok ? 'The key is on the clipboard.' : '';
  });
  $('#key-created-done', root).addEventListener('click', () => {
    hideSecret();
    $('#key-copy-status', root).textContent = '';
    $('#key-name', root).focus();
  });

  render(first.data);
  rendered('keys', 'API keys');
}
