// ProxyOS dashboard: the users page (admins): add users, change their
// role, disable, reset their password or two-factor authentication,
// delete them.
//
// Emails are user data: they only reach the page through textContent and
// attribute values, never as HTML.

import { authed, errorMessage, sendFrom as send } from './api.js';
import { confirmDialog, passwordDialog } from './dialog.js';
import { $, busy, el, fieldErrors, messages, rendered, show, template, timeEl as when, wirePasswordReveal } from './dom.js';
import { sessionOrLogin, shell } from './shell.js';

const roleLabels = { admin: 'admin', operator: 'operator', viewer: 'viewer' };

export default async function usersPage(page) {
  const s = await sessionOrLogin();
  if (s.user.role !== 'admin') {
    const content = await shell(s);
    content.append(el('section', { id: 'users', class: 'stack' },
      el('h1', null, 'Users'),
      el('p', { class: 'notice notice-info' }, 'Only admins can manage users. You can change your own password under Account.')));
    rendered('users', 'Users');
    return;
  }
  const res = await authed('GET', '/api/users');
  if (res.status !== 200) throw new Error(errorMessage(res));
  let users = Array.isArray(res.data.users) ? res.data.users : [];
  // An admin without a password (made by a sign-in with a provider)
  // confirms with a recent sign-in instead (see Account).
  const meUser = users.find((x) => x.id === s.user.id);
  const noPassword = !!meUser && meUser.has_password === false;

  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#users');
  const list = $('#users-list', root);
  const notice = $('#users-notice', root);
  const errorBox = $('#users-error', root);
  wirePasswordReveal(root);

  const { fail, done } = messages(notice, errorBox);

  async function reload() {
    const r = await authed('GET', '/api/users');
    if (r.status === 200 && Array.isArray(r.data.users)) users = r.data.users;
    render();
  }

  function userPath(u) {
    return '/api/users/' + encodeURIComponent(u.id);
  }

  function row(u) {
    const self = u.id === s.user.id;
    const rowError = el('p', { class: 'field-error', id: 'user-error-' + u.id, role: 'alert', hidden: true });
    const head = el('div', { class: 'history-head' },
      el('strong', { class: 'user-row-email' }, u.email),
      ' ',
      el('span', { class: 'badge' + (u.role === 'admin' ? ' role-admin' : '') }, roleLabels[u.role] || String(u.role)),
      u.disabled ? el('span', { class: 'badge badge-bad' }, 'disabled') : null,
      u.totp_enabled ? el('span', { class: 'badge user-totp', title: 'Two-factor authentication is on' }, '2FA') : null,
      u.passkeys ? el('span', { class: 'badge user-passkeys', title: 'Has passkeys' }, 'passkeys') : null,
      ...(Array.isArray(u.providers) ? u.providers : []).map((p) =>
        el('span', { class: 'badge user-provider', title: 'Signs in with the OpenID provider ' + p }, p)),
      u.has_password === false ? el('span', { class: 'badge user-no-password', title: 'No password: signs in with a provider or a passkey' }, 'no password') : null,
      self ? el('span', { class: 'badge badge-good' }, 'you') : null);
    const created = el('div', { class: 'small muted' }, 'Created ', when(u.created_at));

    const selectId = 'user-role-' + u.id;
    const select = el('select', { id: selectId, class: 'user-role-select', 'aria-describedby': rowError.id });
    for (const r of ['viewer', 'operator', 'admin']) {
      const o = el('option', { value: r }, r);
      if (r === u.role) o.selected = true;
      select.append(o);
    }
    select.addEventListener('change', () => {
      const message = 'Changed the role of ' + u.email + ' to ' + select.value + '. Their sessions ended.';
      if (select.value === 'admin' && u.role !== 'admin') promote(u, select, rowError, message);
      else update(u, { role: select.value }, select, rowError, message);
    });
    const roleField = el('div', { class: 'field' },
      el('label', { for: selectId }, 'Role'), select);

    const toggle = el('button', {
      type: 'button', class: 'btn btn-small user-toggle',
      'aria-label': (u.disabled ? 'Enable ' : 'Disable ') + u.email,
    }, u.disabled ? 'Enable' : 'Disable');
    toggle.addEventListener('click', () => update(u, { disabled: !u.disabled }, toggle, rowError,
      (u.disabled ? 'Enabled ' : 'Disabled ') + u.email + '.'));
    const reset = el('button', { type: 'button', class: 'btn btn-small user-reset', 'aria-label': 'Reset the password of ' + u.email }, 'Reset password');
    reset.addEventListener('click', () => resetPassword(u, rowError));
    const actions = el('div', { class: 'row-actions' }, toggle, reset);
    actions.append(el('a', { class: 'btn btn-small user-keys', href: '/keys?user_id=' + encodeURIComponent(u.id), 'aria-label': 'API keys of ' + u.email }, 'API keys'));
    if (u.totp_enabled || u.passkeys) {
      const resetTOTP = el('button', { type: 'button', class: 'btn btn-small user-reset-totp', 'aria-label': 'Reset two-factor authentication of ' + u.email }, 'Reset two-factor');
      resetTOTP.addEventListener('click', () => resetTwoFactor(u, resetTOTP, rowError));
      actions.append(resetTOTP);
    }
    if (!self) {
      const del = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet user-delete', 'aria-label': 'Delete ' + u.email }, 'Delete');
      del.addEventListener('click', () => deleteUser(u, del, rowError));
      actions.append(del);
    }
    return el('li', { 'data-user-id': u.id },
      el('div', { class: 'history-text' }, head, created, roleField, actions, rowError));
  }

  function render() {
    list.replaceChildren(...users.map(row));
    const n = users.length;
    $('#users-count', root).textContent = n + ' user' + (n === 1 ? '' : 's');
  }

  // update sends a change of one user; rowError shows a refusal (such as
  // the last admin) next to the row.
  async function update(u, change, control, rowError, message) {
    show(rowError, '');
    show(errorBox, '');
    control.disabled = true;
    const r = await send(errorBox, 'PUT', userPath(u), change);
    control.disabled = false;
    if (!r) return;
    if (r.status === 200) {
      if (u.id === s.user.id && change.role && change.role !== 'admin') {
        location.assign('/account');
        return;
      }
      users = users.map((x) => (x.id === u.id ? r.data : x));
      render();
      done(message);
      return;
    }
    if (r.status === 404) {
      await reload();
      fail(u.email + ' no longer exists.');
      return;
    }
    if (control.tagName === 'SELECT') control.value = u.role;
    show(rowError, errorMessage(r));
    control.focus();
  }

  async function deleteUser(u, btn, rowError) {
    show(rowError, '');
    const yes = await confirmDialog('Delete user?',
      'Delete ' + u.email + '? Their sessions end at once and this cannot be undone.', 'Delete');
    if (!yes) return;
    btn.disabled = true;
    const r = await send(errorBox, 'DELETE', userPath(u), {});
    if (!r) {
      btn.disabled = false;
      return;
    }
    if (r.status === 204 || r.status === 404) {
      users = users.filter((x) => x.id !== u.id);
      render();
      done('Deleted ' + u.email + '.');
      $('#user-email', root).focus();
      return;
    }
    btn.disabled = false;
    show(rowError, errorMessage(r));
  }

  // resetTwoFactor turns off the two-factor authentication of a user who
  // lost their authenticator and their recovery codes.
  async function resetTwoFactor(u, btn, rowError) {
    show(rowError, '');
    const yes = await confirmDialog('Reset two-factor authentication?',
      u.email + ' will log in with the password alone until they set up two-factor authentication again; their recovery codes stop working and their passkeys are removed.', 'Reset');
    if (!yes) return;
    await update(u, { reset_totp: true }, btn, rowError,
      'Reset the two-factor authentication of ' + u.email + '. They can set it up again under Account.');
  }

  // promote makes u an admin after asking for the caller's own password;
  // Cancel puts the role back.
  async function promote(u, select, rowError, message) {
    show(rowError, '');
    let saved = false;
    if (noPassword) {
      if (await confirmDialog('Make ' + u.email + ' an admin', 'Admins can do everything, add users and make API keys. Your sign-in within the last 5 minutes confirms it.', 'Make admin')) {
        const r = await send(errorBox, 'PUT', userPath(u), { role: 'admin', confirm_password: '' });
        if (r && r.status === 200) {
          saved = true;
          users = users.map((x) => (x.id === u.id ? r.data : x));
          render();
          done(message);
        } else if (r) show(rowError, errorMessage(r));
      }
      if (!saved) select.value = u.role;
      return;
    }
    await passwordDialog({
      title: 'Make ' + u.email + ' an admin',
      text: 'Admins can do everything, add users and make API keys. Confirm with your own password.',
      label: 'Your password',
      autocomplete: 'current-password',
      username: s.user.email,
      yes: 'Make admin',
      submit: async (password) => {
        show(rowError, '');
        const r = await send(errorBox, 'PUT', userPath(u), { role: 'admin', confirm_password: password });
        if (r && r.status === 200) {
          saved = true;
          users = users.map((x) => (x.id === u.id ? r.data : x));
          render();
          done(message);
          return '';
        }
        if (r && r.data.field === 'confirm_password') return errorMessage(r);
        if (r) show(rowError, errorMessage(r));
        return '';
      },
    });
    if (!saved) select.value = u.role;
  }

  // resetPassword sets a new password for u, asked for in the dialog.
  async function resetPassword(u, rowError) {
    show(rowError, '');
    await passwordDialog({
      title: 'Reset the password of ' + u.email,
      text: 'The user\'s sessions end at once; they log in with the new password.',
      label: 'New password',
      autocomplete: 'new-password',
      username: u.email,
      yes: 'Set password',
      submit: async (password) => {
        show(rowError, '');
        const r = await send(errorBox, 'PUT', userPath(u), { password: password });
        if (!r) return '';
        if (r.status === 200) {
          done('Set a new password for ' + u.email + '. Their sessions ended.');
          return '';
        }
        if (r.data.field === 'password') return errorMessage(r);
        show(rowError, errorMessage(r));
        return '';
      },
    });
  }

  // The create form.
  const form = $('#user-create-form', root);
  const createErrs = fieldErrors({ email: '#user-email', password: '#user-password', role: '#user-role', confirm_password: '#user-confirm-password' });
  const roleSelect = $('#user-role', root);
  const confirmField = $('#user-confirm-field', root);
  // Adding an admin asks for the caller's own password.
  roleSelect.addEventListener('change', () => {
    confirmField.hidden = noPassword || roleSelect.value !== 'admin';
    if (confirmField.hidden) $('#user-confirm-password', root).value = '';
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    createErrs.clear();
    show(errorBox, '');
    const body = {
      email: $('#user-email', root).value.trim(),
      password: $('#user-password', root).value,
      role: $('#user-role', root).value,
    };
    if (body.role === 'admin') body.confirm_password = $('#user-confirm-password', root).value;
    busy(form, true, 'Adding…');
    const r = await send(errorBox, 'POST', '/api/users', body);
    busy(form, false);
    if (!r) return;
    if (r.status === 201) {
      form.reset();
      confirmField.hidden = true;
      await reload();
      done('Added ' + r.data.email + ' as ' + r.data.role + '.');
      $('#user-email', root).focus();
      return;
    }
    const marked = createErrs.mark(r);
    if (marked) marked.focus();
    else fail(errorMessage(r));
  });

  render();
  rendered('users', 'Users');
}
