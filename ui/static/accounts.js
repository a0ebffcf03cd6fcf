// ProxyOS dashboard: the users page (admins) and the account page (own
// password, two-factor authentication and sessions). Loaded after app.js, whose helpers it uses
// through window.ProxyOS.
//
// Emails, IP addresses and user agents are user data: they only reach the
// page through textContent and attribute values, never as HTML.
'use strict';

(function () {
  const P = window.ProxyOS;
  const { $, $$, el, authed, show, errorMessage, stripField, capitalize, confirmDialog, wirePasswordReveal } = P;
  const when = P.timeEl;
  const send = P.sendFrom;

  // fieldErrors shows an API error next to its field: fields maps the
  // API's field names to input ids. It returns the input it marked, or null.
  function fieldErrors(fields) {
    return {
      clear() {
        for (const id of Object.values(fields)) {
          const input = document.getElementById(id);
          input.removeAttribute('aria-invalid');
          show(document.getElementById(id + '-error'), '');
        }
      },
      mark(res) {
        const d = res.data || {};
        const id = fields[d.field];
        if (!id) return null;
        const input = document.getElementById(id);
        input.setAttribute('aria-invalid', 'true');
        show(document.getElementById(id + '-error'), capitalize(stripField(d.error || '', d.field)) + '.');
        return input;
      },
    };
  }




  const roleLabels = { admin: 'admin', operator: 'operator', viewer: 'viewer' };

  // ---------------------------------------------------------------- users

  async function usersPage() {
    const s = await P.sessionOrLogin();
    if (s.user.role !== 'admin') {
      const content = P.shell(s);
      content.append(el('section', { id: 'users', class: 'stack' },
        el('h1', null, 'Users'),
        el('p', { class: 'notice notice-info' }, 'Only admins can manage users. You can change your own password under Account.')));
      P.done('users', 'Users');
      return;
    }
    const res = await authed('GET', '/api/users');
    if (res.status !== 200) throw new Error(errorMessage(res));
    let users = Array.isArray(res.data.users) ? res.data.users : [];

    const content = P.shell(s);
    content.append(P.template('users'));
    const root = $('#users');
    const list = $('#users-list', root);
    const notice = $('#users-notice', root);
    const errorBox = $('#users-error', root);
    wirePasswordReveal(root);

    const { fail, done } = P.messages(notice, errorBox);

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
      if (u.totp_enabled) {
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
        u.email + ' will log in with the password alone until they set up two-factor authentication again; their recovery codes stop working.', 'Reset');
      if (!yes) return;
      await update(u, { reset_totp: true }, btn, rowError,
        'Reset the two-factor authentication of ' + u.email + '. They can set it up again under Account.');
    }

    // promote makes u an admin after asking for the caller's own password
    // in the promote dialog; Cancel puts the role back.
    function promote(u, select, rowError, message) {
      const dialog = $('#promote-dialog', root);
      const form = $('#promote-form', root);
      const input = $('#promote-password', root);
      const errs = fieldErrors({ confirm_password: 'promote-password' });
      $('#promote-title', root).textContent = 'Make ' + u.email + ' an admin';
      input.value = '';
      errs.clear();
      let saved = false;
      function close() {
        form.removeEventListener('submit', onSubmit);
        $('#promote-cancel', root).removeEventListener('click', close);
        dialog.removeEventListener('close', onClose);
        if (dialog.open) dialog.close();
        input.value = '';
        if (!saved) select.value = u.role;
        if (select.isConnected) select.focus();
      }
      async function onSubmit(ev) {
        ev.preventDefault();
        errs.clear();
        show(rowError, '');
        P.busy(form, true, 'Saving…');
        const r = await send(errorBox, 'PUT', userPath(u), { role: 'admin', confirm_password: input.value });
        P.busy(form, false);
        if (r && r.status === 200) {
          saved = true;
          close();
          users = users.map((x) => (x.id === u.id ? r.data : x));
          render();
          done(message);
          return;
        }
        const marked = r && errs.mark(r);
        if (marked) {
          marked.focus();
          return;
        }
        close();
        if (r) show(rowError, errorMessage(r));
      }
      // A close event still queued from the previous opening must not
      // close this one: only a dialog that is really closed counts.
      const onClose = () => { if (!dialog.open) close(); };
      form.addEventListener('submit', onSubmit);
      $('#promote-cancel', root).addEventListener('click', close);
      dialog.addEventListener('close', onClose);
      dialog.showModal();
      input.focus();
    }

    // resetPassword asks for a new password in the reset dialog.
    function resetPassword(u, rowError) {
      const dialog = $('#reset-dialog', root);
      const form = $('#reset-form', root);
      const input = $('#reset-password', root);
      const errs = fieldErrors({ password: 'reset-password' });
      const opener = document.activeElement;
      $('#reset-title', root).textContent = 'Reset the password of ' + u.email;
      input.value = '';
      errs.clear();
      function close() {
        form.removeEventListener('submit', onSubmit);
        $('#reset-cancel', root).removeEventListener('click', close);
        dialog.removeEventListener('close', onClose);
        if (dialog.open) dialog.close();
        input.value = '';
        if (opener && opener.isConnected) opener.focus();
      }
      async function onSubmit(ev) {
        ev.preventDefault();
        errs.clear();
        show(rowError, '');
        P.busy(form, true, 'Saving…');
        const r = await send(errorBox, 'PUT', userPath(u), { password: input.value });
        P.busy(form, false);
        if (!r) {
          close();
          return;
        }
        if (r.status === 200) {
          close();
          done('Set a new password for ' + u.email + '. Their sessions ended.');
          return;
        }
        const marked = errs.mark(r);
        if (marked) {
          marked.focus();
          return;
        }
        close();
        show(rowError, errorMessage(r));
      }
      const onClose = () => { if (!dialog.open) close(); };
      form.addEventListener('submit', onSubmit);
      $('#reset-cancel', root).addEventListener('click', close);
      dialog.addEventListener('close', onClose);
      dialog.showModal();
      input.focus();
    }

    // The create form.
    const form = $('#user-create-form', root);
    const createErrs = fieldErrors({ email: 'user-email', password: 'user-password', role: 'user-role', confirm_password: 'user-confirm-password' });
    const roleSelect = $('#user-role', root);
    const confirmField = $('#user-confirm-field', root);
    // Adding an admin asks for the caller's own password.
    roleSelect.addEventListener('change', () => {
      confirmField.hidden = roleSelect.value !== 'admin';
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
      P.busy(form, true, 'Adding…');
      const r = await send(errorBox, 'POST', '/api/users', body);
      P.busy(form, false);
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
    P.done('users', 'Users');
  }

  // ---------------------------------------------------------------- account

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
    const confirmErrs = fieldErrors({ code: 'totp-code' });
    const disableErrs = fieldErrors({ password: 'totp-disable-password', code: 'totp-disable-code' });
    let codes = [];

    function view(name) {
      for (const [k, node] of Object.entries(views)) node.hidden = k !== name;
    }

    function clear() {
      show(notice, '');
      show(errorBox, '');
    }

    const { fail } = P.messages(notice, errorBox);

    // forget removes the enrolment's key and QR code from the page.
    function forget() {
      qr.removeAttribute('src');
      uri.setAttribute('href', '/account');
      secret.textContent = '';
      confirmForm.reset();
      confirmErrs.clear();
    }

    function render(acct) {
      const on = !!acct.totp_enabled;
      status.textContent = on ? 'On' : 'Off';
      status.className = 'badge' + (on ? ' badge-good' : '');
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
    const setupErrs = fieldErrors({ password: 'totp-setup-password' });
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
      P.busy(confirmForm, true, 'Checking…');
      const r = await send(errorBox, 'POST', '/api/account/totp/confirm', { code: code });
      P.busy(confirmForm, false);
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
    copy.addEventListener('click', () => P.copyText(copy, codes.join('\n'), codeList));

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
      P.busy(disableForm, true, 'Turning off…');
      const r = await send(errorBox, 'POST', '/api/account/totp/disable', body);
      P.busy(disableForm, false);
      if (!r) return;
      if (r.status === 204 || r.status === 200) {
        disableForm.reset();
        await load();
        show(notice, 'Two-factor authentication is off: logging in needs only your password.');
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

  async function accountPage() {
    const s = await P.sessionOrLogin();
    const content = P.shell(s);
    content.append(P.template('account'));
    const root = $('#account');
    $('.acct-email', root).textContent = s.user.email;
    $('.acct-role', root).textContent = s.user.role;
    wirePasswordReveal(root);

    // Password.
    const form = $('#password-form', root);
    const pwNotice = $('#password-notice', root);
    const pwError = $('#password-error', root);
    const errs = fieldErrors({ current: 'password-current', new: 'password-new' });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errs.clear();
      show(pwNotice, '');
      show(pwError, '');
      const body = { current: $('#password-current', root).value, new: $('#password-new', root).value };
      P.busy(form, true, 'Changing…');
      const r = await send(pwError, 'PUT', '/api/account/password', body);
      P.busy(form, false);
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

    await Promise.all([twoFactor(root, loadSessions), loadSessions()]);
    P.done('account', 'Account');
  }

  P.register('/users', usersPage);
  P.register('/account', accountPage);
})();
