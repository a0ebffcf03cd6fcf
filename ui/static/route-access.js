// ProxyOS dashboard: the route editor's "test a request" box and the
// route's tokens. Token names are user data (textContent only); a new
// token is shown once, in a read-only input, and never again.

import { authed, errorMessage, NeedLogin, networkError } from './api.js';
import { $, copyText, el, show, timeEl } from './dom.js';
import { confirmDialog } from './dialog.js';
import { routePath } from './route.js';
import { checked, input, parseRules } from './route-form.js';

// wireAccessTest runs the test box against POST /api/access/test with
// the rules and login setting the form holds now.
export function wireAccessTest() {
  const result = $('#access-test-result');
  $('#access-test-run').addEventListener('click', async () => {
    const parsed = parseRules(input('auth-rules').value);
    if (parsed.errors.length) {
      showResult(result, 'notice-error', 'Access rules: ' + parsed.errors[0]);
      return;
    }
    const body = {
      rules: parsed.rules,
      default: checked('auth-login') ? 'login' : 'allow',
      method: $('#access-test-method').value.trim().toUpperCase() || 'GET',
      path: $('#access-test-path').value.trim() || '/',
      ip: $('#access-test-ip').value.trim(),
    };
    let res;
    try {
      res = await authed('POST', '/api/access/test', body);
    } catch (err) {
      if (!(err instanceof NeedLogin)) showResult(result, 'notice-error', networkError(err));
      return;
    }
    if (res.status !== 200) {
      showResult(result, 'notice-error', errorMessage(res));
      return;
    }
    const v = res.data;
    const what = { allow: 'Allowed without a login', deny: 'Denied (403)', login: 'Needs a login' }[v.action] || v.action;
    const by = v.rule ? ' by rule ' + v.rule : ' by default';
    result.replaceChildren(el('strong', null, what + by + '.'),
      el('ul', { class: 'small' }, ...(v.why || []).map((w) => el('li', null, w))));
    result.className = 'notice ' + (v.action === 'deny' ? 'notice-error' : 'notice-info');
    result.hidden = false;
  });
}

function showResult(box, kind, text) {
  box.className = 'notice ' + kind;
  show(box, text);
}

// wireTokens lists route id's tokens and, for writers, creates and
// revokes them.
export async function wireTokens(id, writer) {
  const box = $('#route-tokens');
  const list = $('#token-list');
  const errorBox = $('#route-tokens-error');
  const created = $('#token-created');
  const secret = $('#token-secret');
  box.hidden = false;
  $('#token-create-fields').hidden = !writer;

  async function load() {
    let res;
    try {
      res = await authed('GET', routePath(id) + '/tokens');
    } catch (err) {
      if (!(err instanceof NeedLogin)) show(errorBox, networkError(err));
      return;
    }
    if (res.status !== 200) {
      show(errorBox, 'Could not load the tokens: ' + errorMessage(res));
      return;
    }
    const tokens = Array.isArray(res.data.tokens) ? res.data.tokens : [];
    list.replaceChildren(...tokens.map(item));
    if (!tokens.length) list.append(el('li', { class: 'muted' }, 'No tokens.'));
  }

  function item(t) {
    const revoked = !!t.revoked_at;
    const expired = !revoked && !!t.expires_at && new Date(t.expires_at) <= new Date();
    const status = revoked ? 'revoked' : expired ? 'expired' : 'active';
    const li = el('li', { 'data-status': status },
      el('div', { class: 'history-text' },
        el('div', { class: 'history-head' }, el('strong', { class: 'key-name' }, t.name), ' ',
          el('span', { class: 'badge' }, t.kind === 'basic' ? 'basic: ' + t.username : 'bearer'),
          status !== 'active' ? el('span', { class: 'badge badge-bad' }, status) : null),
        el('div', { class: 'small muted' }, 'last used ', timeEl(t.last_used_at, 'never'),
          ' · by ' + (t.created_by || '?') + ', ', timeEl(t.created_at, ''),
          ' · expires ', timeEl(t.expires_at, 'never'))));
    if (writer && !revoked) {
      const btn = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet', 'aria-label': 'Revoke ' + t.name }, 'Revoke');
      btn.addEventListener('click', () => revoke(t, btn));
      li.append(btn);
    }
    return li;
  }

  async function revoke(t, btn) {
    if (!(await confirmDialog('Revoke “' + t.name + '”?', 'Scripts using it are refused at once, on every node.', 'Revoke'))) return;
    btn.disabled = true;
    const res = await authed('DELETE', routePath(id) + '/tokens/' + encodeURIComponent(t.id)).catch((err) => ({ status: 0, err: err }));
    if (res.status !== 204) {
      btn.disabled = false;
      show(errorBox, res.err ? networkError(res.err) : 'Could not revoke: ' + errorMessage(res));
      return;
    }
    show(errorBox, '');
    await load();
  }

  if (writer) {
    $('#token-create').addEventListener('click', async () => {
      show(errorBox, '');
      const body = { name: $('#token-name').value.trim(), username: $('#token-username').value.trim(), expires_in: $('#token-expiry').value };
      let res;
      try {
        res = await authed('POST', routePath(id) + '/tokens', body);
      } catch (err) {
        if (!(err instanceof NeedLogin)) show(errorBox, networkError(err));
        return;
      }
      if (res.status !== 201) {
        show(errorBox, 'Could not create the token: ' + errorMessage(res));
        return;
      }
      secret.value = res.data.token;
      created.hidden = false;
      $('#token-name').value = '';
      $('#token-username').value = '';
      secret.focus();
      secret.select();
      await load();
    });
    $('#token-copy').addEventListener('click', (ev) => copyText(ev.currentTarget, secret.value, secret));
  }
  await load();
}
