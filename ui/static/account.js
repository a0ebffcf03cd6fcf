// ProxyOS dashboard: the account page: the user's own password,
// two-factor authentication, passkeys and sessions.
//
// IP addresses and user agents are user data: they only reach the page
// through textContent and attribute values, never as HTML.

import { authed, errorMessage, sendFrom as send } from './api.js';
import { $, busy, copyText, el, fieldErrors, messages, rendered, show, template, timeEl as when, wirePasswordReveal } from './dom.js';
import { passwordless, sessionOrLogin, shell } from './shell.js';
import { confirmDialog, passwordDialog } from './dialog.js';
import { createPasskey, passkeyError, passkeysSupported } from './passkey.js';

// describeAgent shortens a user agent to something a person recognises.
function describeAgent(ua) {
  if (!ua) return 'Unknown client';
  const browsers = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari'], ['curl/', 'curl']];
  const systems = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Windows', 'Windows'], ['Mac OS X', 'macOS'], ['Linux', 'Linux']];
  const b = browsers.find(([k]) => ua.includes(k));
  const o = systems.find(([k]) => ua.includes(k));
  if (!b && !o) return ua.length > 60 ? ua.slice(0, 60) + '…' : ua;
  return (b ? b[1] : 'Browser') + (o ? ' on ' + o[1] : '');
}

// groupSecret writes a base32 key in groups of four, as authenticator
// apps accept it, so it is easier to type.
function groupSecret(secret) {
  return String(secret || '').replace(/(.{4})(?=.)/g, '$1 ');
}

// twoFactor runs the account page's two-factor card: the status, setting
// it up (QR code, key, a code to confirm), the recovery codes shown once,
// and turning it off. changed runs after it was turned on or off.
function twoFactor(root, changed) {
  const notice = $('#totp-notice', root);
  const errorBox = $('#totp-error', root);
  const status = $('#totp-status', root);
  const views = {
    off: $('#totp-off', root),
    enrol: $('#totp-enrol', root),
    codes: $('#totp-codes', root),
    on: $('#totp-on', root),
  };
  const qr = $('#totp-qr', root);
  const uri = $('#totp-uri', root);
  const secret = $('#totp-secret', root);
  const codeInput = $('#totp-code', root);
  const confirmForm = $('#totp-confirm-form', root);
  const codeList = $('#totp-recovery-list', root);
  const disableOpen = $('#totp-disable-open', root);
  const disableForm = $('#totp-disable-form', root);
  const confirmErrs = fieldErrors({ code: '#totp-code' });
  const disableErrs = fieldErrors({ password: '#totp-disable-password', code: '#totp-disable-code' });
  let codes = [];

  function view(name) {
    for (const [k, node] of Object.entries(views)) node.hidden = k !== name;
  }

  function clear() {
    show(notice, '');
    show(errorBox, '');
  }

  const { fail } = messages(notice, errorBox);

  // forget removes the enrolment's key and QR code from the page.
  function forget() {
    qr.removeAttribute('src');
    uri.setAttribute('href', '/account');
    secret.textContent = '';
    confirmForm.reset();
    confirmErrs.clear();
  }

  let passkeys = false;

  function render(acct) {
    const on = !!acct.totp_enabled;
    passkeys = !!(acct.user && acct.user.passkeys);
    // Passkeys are a second factor too: the badge says so.
    status.textContent = on ? 'On' : passkeys ? 'Passkeys only' : 'Off';
    status.className = 'badge' + (on || passkeys ? ' badge-good' : '');
    status.hidden = false;
    if (!on) {
      view('off');
      return;
    }
    const n = Number(acct.recovery_codes_left) || 0;
    $('#totp-left', root).textContent = n + ' recovery code' + (n === 1 ? '' : 's') + ' left.' +
      (n <= 3 ? ' To get new ones, turn two-factor authentication off and on again.' : '');
    disableForm.hidden = true;
    disableOpen.hidden = false;
    view('on');
  }

  async function load() {
    const r = await send(errorBox, 'GET', '/api/account');
    if (!r) return;
    if (r.status !== 200) {
      show(errorBox, 'Could not load the two-factor status: ' + errorMessage(r));
      return;
    }
    render(r.data);
  }

  const setupForm = $('#totp-setup-form', root);
  const setup = $('#totp-setup', root);
  const setupErrs = fieldErrors({ password: '#totp-setup-password' });
  setupForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear();
    setupErrs.clear();
    const pw = $('#totp-setup-password', root);
    if (!pw.value) {
      setupErrs.mark({ data: { field: 'password', error: 'password: enter your password to confirm' } }).focus();
      return;
    }
    setup.disabled = true;
    const r = await send(errorBox, 'POST', '/api/account/totp', { password: pw.value });
    setup.disabled = false;
    if (!r) return;
    if (r.status === 400 && r.data && r.data.field === 'password') {
      setupErrs.mark(r).focus();
      return;
    }
    setupForm.reset();
    if (r.status === 409) {
      await load();
      show(notice, 'Two-factor authentication is already on.');
      return;
    }
    if (r.status !== 200) {
      fail(errorMessage(r));
      return;
    }
    forget();
    const d = r.data;
    // Only an image from the server's data URL; the CSP allows no other.
    const img = typeof d.qr === 'string' && d.qr.startsWith('data:image/png;base64,');
    if (img) qr.src = d.qr;
    qr.hidden = !img;
    const link = typeof d.uri === 'string' && d.uri.startsWith('otpauth://');
    if (link) uri.href = d.uri;
    uri.parentNode.hidden = !link;
    secret.textContent = groupSecret(d.secret);
    view('enrol');
    codeInput.focus();
  });

  $('#totp-cancel', root).addEventListener('click', () => {
    forget();
    clear();
    view('off');
    setup.focus();
  });

  confirmForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear();
    confirmErrs.clear();
    const code = codeInput.value.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(code)) {
      confirmErrs.mark({ data: { field: 'code', error: 'enter the 6 digits the app shows' } });
      codeInput.focus();
      return;
    }
    busy(confirmForm, true, 'Checking…');
    const r = await send(errorBox, 'POST', '/api/account/totp/confirm', { code: code });
    busy(confirmForm, false);
    if (!r) return;
    if (r.status === 200) {
      forget();
      codes = Array.isArray(r.data.recovery_codes) ? r.data.recovery_codes.map(String) : [];
      codeList.replaceChildren(...codes.map((c) => el('li', null, el('code', null, c))));
      status.textContent = 'On';
      status.className = 'badge badge-good';
      view('codes');
      $('#totp-codes-copy', root).focus();
      await changed();
      return;
    }
    if (r.status === 409) {
      forget();
      await load();
      fail('No set-up was waiting for a code (it may have been finished or started again in another tab). Start again with Set up.');
      return;
    }
    const marked = confirmErrs.mark(r);
    if (marked) {
      marked.focus();
      marked.select();
    } else {
      fail(errorMessage(r));
    }
  });

  const copy = $('#totp-codes-copy', root);
  copy.addEventListener('click', () => copyText(copy, codes.join('\n'), codeList));

  $('#totp-codes-done', root).addEventListener('click', async () => {
    codes = [];
    codeList.replaceChildren();
    await load();
    show(notice, 'Two-factor authentication is on. From now on, logging in asks for a code from your app.');
    disableOpen.focus();
  });

  disableOpen.addEventListener('click', () => {
    clear();
    disableErrs.clear();
    disableForm.reset();
    disableForm.hidden = false;
    disableOpen.hidden = true;
    $('#totp-disable-password', root).focus();
  });

  $('#totp-disable-cancel', root).addEventListener('click', () => {
    disableForm.reset();
    disableErrs.clear();
    disableForm.hidden = true;
    disableOpen.hidden = false;
    disableOpen.focus();
  });

  disableForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear();
    disableErrs.clear();
    const body = {
      password: $('#totp-disable-password', root).value,
      code: $('#totp-disable-code', root).value.replace(/\s+/g, ''),
    };
    busy(disableForm, true, 'Turning off…');
    const r = await send(errorBox, 'POST', '/api/account/totp/disable', body);
    busy(disableForm, false);
    if (!r) return;
    if (r.status === 204 || r.status === 200) {
      disableForm.reset();
      await load();
      show(notice, passkeys
        ? 'The authenticator app is off: logging in asks for a passkey after your password.'
        : 'Two-factor authentication is off: logging in needs only your password.');
      setup.focus();
      await changed();
      return;
    }
    const marked = disableErrs.mark(r);
    if (marked) marked.focus();
    else fail(errorMessage(r));
  });

  return load();
}

// passkeys runs the account page's passkey card: the list, adding one
// (name and password, then the browser's prompt) and removing one (the
// password again).
function passkeys(root, email, noPassword) {
  const notice = $('#passkeys-notice', root);
  const errorBox = $('#passkeys-error', root);
  const list = $('#passkeys-list', root);
  const form = $('#passkey-add-form', root);
  const errs = fieldErrors({ name: '#passkey-name', password: '#passkey-password' });
  $('#passkey-password-field', root).hidden = noPassword;
  const supported = passkeysSupported();
  $('#passkeys-unsupported', root).hidden = supported;
  form.hidden = !supported;

  function row(p) {
    const detail = el('div', { class: 'small muted' }, 'added ', when(p.created_at),
      p.last_used_at ? el('span', null, ' · last used ', when(p.last_used_at)) : ' · never used');
    const btn = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet passkey-remove', 'aria-label': 'Remove the passkey ' + p.name }, 'Remove');
    btn.addEventListener('click', () => remove(p));
    return el('li', { 'data-passkey-id': p.id },
      el('div', { class: 'history-text' }, el('div', { class: 'history-head' }, el('strong', null, p.name)), detail), btn);
  }

  async function load() {
    const r = await send(errorBox, 'GET', '/api/account/passkeys');
    if (!r) return;
    if (r.status !== 200) {
      show(errorBox, 'Could not load your passkeys: ' + errorMessage(r));
      return;
    }
    const ps = Array.isArray(r.data.passkeys) ? r.data.passkeys : [];
    list.replaceChildren(...ps.map(row));
    if (!r.data.rp_id) {
      // The server has no url (or an IP address) to bind passkeys to.
      show($('#passkeys-unsupported', root), 'Passkeys are off: the dashboard\'s url option is not set to a host name.');
      form.hidden = true;
    }
  }

  async function remove(p) {
    show(notice, '');
    show(errorBox, '');
    if (noPassword) {
      if (!(await confirmDialog('Remove the passkey ' + p.name + '?', 'It no longer logs you in.', 'Remove'))) return;
      const r = await send(errorBox, 'DELETE', '/api/account/passkeys/' + encodeURIComponent(p.id), {});
      if (!r) return;
      if (r.status !== 204 && r.status !== 404) {
        show(errorBox, errorMessage(r));
        return;
      }
      show(notice, 'Passkey ' + p.name + ' removed.');
      await load();
      return;
    }
    const done = await passwordDialog({
      title: 'Remove the passkey ' + p.name + '?', yes: 'Remove', busyLabel: 'Removing…',
      text: 'It no longer logs you in. Confirm with your password.',
      label: 'Your password', autocomplete: 'current-password', username: email,
      submit: async (password) => {
        const r = await send(errorBox, 'DELETE', '/api/account/passkeys/' + encodeURIComponent(p.id), { password: password });
        if (!r || r.status === 204 || r.status === 404) return '';
        return errorMessage(r);
      },
    });
    if (done) {
      show(notice, 'Passkey ' + p.name + ' removed.');
      await load();
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errs.clear();
    show(notice, '');
    show(errorBox, '');
    const body = { name: $('#passkey-name', root).value.trim(), password: $('#passkey-password', root).value };
    busy(form, true, 'Waiting for the passkey…');
    try {
      const begin = await send(errorBox, 'POST', '/api/account/passkeys', body);
      if (!begin) return;
      if (begin.status !== 200) {
        const marked = errs.mark(begin);
        if (marked) marked.focus();
        else show(errorBox, errorMessage(begin));
        return;
      }
      let credential;
      try {
        credential = await createPasskey(begin.data.options);
      } catch (err) {
        show(errorBox, passkeyError(err));
        return;
      }
      const r = await send(errorBox, 'POST', '/api/account/passkeys/finish', { credential: credential });
      if (!r) return;
      if (r.status !== 201) {
        show(errorBox, errorMessage(r));
        return;
      }
      form.reset();
      show(notice, 'Passkey ' + r.data.name + ' added.');
      await load();
    } finally {
      busy(form, false);
    }
  });

  return load();
}

export default async function accountPage(page) {
  const s = await sessionOrLogin();
  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#account');
  $('.acct-email', root).textContent = s.user.email;
  $('.acct-role', root).textContent = s.user.role;
  wirePasswordReveal(root);
  const me = await authed('GET', '/api/account');
  if (me.status !== 200) throw new Error(errorMessage(me));
  const providers = Array.isArray(me.data.user.providers) ? me.data.user.providers : [];
  $('#acct-providers-row', root).hidden = !providers.length;
  $('.acct-providers', root).textContent = providers.join(', ');
  const noPassword = passwordless(me.data, $('#acct-signin-note', root), location.pathname);
  const passkeysLoaded = passkeys(root, s.user.email, noPassword);

  // Password.
  const form = $('#password-form', root);
  const pwNotice = $('#password-notice', root);
  const pwError = $('#password-error', root);
  const errs = fieldErrors({ current: '#password-current', new: '#password-new' });
  if (noPassword) {
    $('#password-current-field', root).hidden = true;
    $('#password-title', root).textContent = 'Set a password';
    $('#password-submit', root).textContent = 'Set password';
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errs.clear();
    show(pwNotice, '');
    show(pwError, '');
    const body = { current: $('#password-current', root).value, new: $('#password-new', root).value };
    busy(form, true, 'Changing…');
    const r = await send(pwError, 'PUT', '/api/account/password', body);
    busy(form, false);
    if (!r) return;
    if (r.status === 200) {
      form.reset();
      const n = Number(r.data.revoked) || 0;
      show(pwNotice, 'Password changed.' + (n ? ' ' + n + ' other session' + (n === 1 ? '' : 's') + ' ended.' : ''));
      await loadSessions();
      return;
    }
    const marked = errs.mark(r);
    if (marked) marked.focus();
    else {
      show(pwError, errorMessage(r));
      pwError.focus();
    }
  });

  // Sessions.
  const list = $('#sessions-list', root);
  const sNotice = $('#sessions-notice', root);
  const sError = $('#sessions-error', root);
  const revokeAll = $('#sessions-revoke-all', root);

  function sessionRow(x) {
    const head = el('div', { class: 'history-head' },
      el('strong', null, describeAgent(x.user_agent)),
      x.current ? el('span', { class: 'badge badge-good session-current' }, 'this session') : null,
      x.host ? el('span', { class: 'badge session-host', title: 'A login handed off to this site; it ends with the dashboard session it came from.' }, 'on ' + String(x.host)) : null);
    const detail = el('div', { class: 'small muted' },
      (x.client_ip || 'unknown IP') + ' · last seen ', when(x.last_seen_at), ' · signed in ', when(x.created_at));
    const li = el('li', { 'data-session-id': x.id }, el('div', { class: 'history-text' }, head, detail));
    if (x.user_agent) li.firstChild.title = x.user_agent;
    if (!x.current) {
      const btn = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet session-revoke', 'aria-label': 'Revoke the session of ' + describeAgent(x.user_agent) }, 'Revoke');
      btn.addEventListener('click', () => revoke(x, btn));
      li.append(btn);
    }
    return li;
  }

  async function loadSessions() {
    const r = await send(sError, 'GET', '/api/sessions');
    if (!r) return;
    if (r.status !== 200) {
      show(sError, 'Could not load your sessions: ' + errorMessage(r));
      return;
    }
    const ss = Array.isArray(r.data.sessions) ? r.data.sessions : [];
    list.replaceChildren(...ss.map(sessionRow));
    revokeAll.disabled = !ss.some((x) => !x.current);
  }

  async function revoke(x, btn) {
    show(sNotice, '');
    show(sError, '');
    btn.disabled = true;
    const r = await send(sError, 'DELETE', '/api/sessions/' + encodeURIComponent(x.id), {});
    if (!r) {
      btn.disabled = false;
      return;
    }
    if (r.status === 204 || r.status === 404) {
      show(sNotice, 'Signed out ' + describeAgent(x.user_agent) + '.');
      await loadSessions();
      revokeAll.focus();
      return;
    }
    btn.disabled = false;
    show(sError, errorMessage(r));
  }

  revokeAll.addEventListener('click', async () => {
    show(sNotice, '');
    show(sError, '');
    revokeAll.disabled = true;
    const r = await send(sError, 'POST', '/api/sessions/revoke-all', {});
    if (!r) {
      revokeAll.disabled = false;
      return;
    }
    if (r.status === 200) {
      const n = Number(r.data.revoked) || 0;
      show(sNotice, n ? 'Signed out ' + n + ' other session' + (n === 1 ? '' : 's') + '.' : 'There were no other sessions.');
      await loadSessions();
      return;
    }
    revokeAll.disabled = false;
    show(sError, errorMessage(r));
  });

  await Promise.all([twoFactor(root, loadSessions), loadSessions(), passkeysLoaded]);
  rendered('account', 'Account');
}
