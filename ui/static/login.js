// ProxyOS dashboard: the login page, with the two-factor step and the
// warning on plain HTTP.

import { api, errorMessage, networkError } from './api.js';
import { $, busy, el, mount, rendered, show, template, wirePasswordReveal } from './dom.js';
import { getPasskey, passkeyError, passkeysSupported } from './passkey.js';

// reasonMessages explain, in words, why the login page was shown. The
// reason comes from the URL, so only known reasons are shown.
const reasonMessages = {
  no_cookie: 'Log in to continue.',
  malformed: 'Your session cookie was not recognised. Please log in again.',
  unknown_key: 'The server\'s secret changed (unknown_key), so your previous session is no longer valid. Please log in again.',
  bad_signature: 'Your session cookie failed verification (bad_signature). Please log in again.',
  expired: 'Your session expired. Please log in again.',
  idle_timeout: 'Your session ended after a period of inactivity. Please log in again.',
  revoked: 'You were logged out. Log in again to continue.',
  user_disabled: 'Your account is disabled. Ask an administrator to enable it.',
  other_host: 'Your session belongs to another site. Please log in again.',
};

// oidcMessages explain a refused sign-in with a provider (oidc_error in
// the URL the callback sent the browser to); unknown codes get a general
// sentence.
const oidcMessages = {
  unreachable: 'the provider is unreachable right now. Try again later, or log in with your password.',
  state: 'the sign-in expired or was started in another browser. Please try again.',
  refused: 'the provider refused the sign-in.',
  token: 'the provider\'s answer failed verification.',
  no_email: 'the provider gave no email address.',
  email_unverified: 'the provider has not verified your email address.',
  domain: 'your email address\'s domain is not allowed here.',
  unknown_user: 'no account has your email address. Ask an administrator to add you.',
  disabled: 'your account is disabled. Ask an administrator to enable it.',
  no_role: 'none of your groups gives access here.',
  busy: 'too many sign-ins are in progress. Try again in a few minutes.',
};

// showSignInMethods adds a "Sign in with <name>" link per OpenID provider,
// carrying the return URL and handoff state, hides the password form when
// password login is off, and explains a refused sign-in.
async function showSignInMethods(params, form, errorBox) {
  let methods = { password: true, oidc: [] };
  try {
    const res = await api('GET', '/api/auth/methods');
    if (res.status === 200 && res.data) methods = res.data;
  } catch (_) {
    // The password form stands alone.
  }
  const names = methods.oidc || [];
  if (names.length) {
    const q = new URLSearchParams();
    if (params.get('return')) q.set('return', params.get('return'));
    if (params.get('state')) q.set('state', params.get('state'));
    const qs = q.toString() ? '?' + q.toString() : '';
    const box = $('#login-oidc-buttons');
    for (const name of names) {
      box.append(el('a', { class: 'btn btn-block', href: '/api/auth/oidc/' + encodeURIComponent(name) + qs,
        'data-provider': name, text: 'Sign in with ' + name }));
    }
    $('#login-oidc').hidden = false;
  }
  if (methods.password === false) {
    form.hidden = true;
    $('#login-oidc-or').hidden = true;
  }
  const code = params.get('oidc_error');
  if (code) {
    const provider = names.includes(params.get('provider')) ? params.get('provider') : 'the provider';
    show(errorBox, 'Sign-in with ' + provider + ' failed: ' + (oidcMessages[code] || 'please try again.'));
  }
}

export default async function loginPage(page) {
  const params = new URLSearchParams(location.search);
  const returnTo = params.get('return') || '';
  const reason = params.get('reason') || '';

  // Already logged in? Go where the gate sent us, or to the overview.
  // The return URL is only ever followed after the server has checked
  // it: it answers the safe form, or a one-time handoff to a managed
  // host on another domain, as "redirect".
  let session;
  try {
    session = await api('GET', '/api/auth/session');
    if (session.status === 200 && returnTo) {
      const h = await api('POST', '/api/auth/handoff', { return_to: returnTo, state: params.get('state') || '' });
      if (h.status === 200 && h.data && h.data.redirect) {
        location.replace(h.data.redirect);
        return;
      }
    }
  } catch (_) {
    session = null;
  }
  if (session && session.status === 200) {
    location.replace('/');
    return;
  }

  mount(template(page.template));
  const form = $('#login-form');
  const errorBox = $('#login-error');
  wirePasswordReveal(form);

  if (reason) {
    show($('#login-reason'), reasonMessages[reason] || 'Please log in again.');
  }
  await showSignInMethods(params, form, errorBox);

  if (location.protocol === 'http:') {
    const warning = $('#http-warning');
    warning.hidden = false;
    try {
      const diag = await api('GET', '/api/auth/diagnose');
      const canonical = diag.status === 200 ? diag.data.canonical_url || '' : '';
      if (canonical.startsWith('https://')) {
        const target = new URL(location.pathname + location.search, canonical);
        if (target.protocol === 'https:') {
          const wrap = $('.http-warning-link', warning);
          const a = $('a', wrap);
          a.href = target.href;
          a.textContent = target.origin;
          wrap.hidden = false;
        }
      }
    } catch (_) {
      // The warning stands without the link.
    }
  }

  // The second step: when the account has two-factor authentication,
  // the server answers totp_required and the code field appears below
  // the password, which stays filled in.
  const totpField = $('#login-totp-field');
  const totpInput = $('#login-totp');

  function askForCode(msg) {
    totpField.hidden = false;
    if (msg) totpInput.setAttribute('aria-invalid', 'true');
    else totpInput.removeAttribute('aria-invalid');
    show(errorBox, msg);
    totpInput.focus();
    totpInput.select();
  }

  // Passkeys: alone (the button below the form), or as the second factor
  // after the password, instead of a code (passkey_required when the
  // account has no authenticator app).
  const passkeySecond = $('#login-passkey-second');
  const passkeyOK = passkeysSupported();
  $('#login-passkey-alt').hidden = !passkeyOK;

  async function loginWithPasskey(beginBody) {
    show(errorBox, '');
    const state = params.get('state') || '';
    try {
      const begin = await api('POST', '/api/auth/passkey/begin', beginBody);
      if (begin.status !== 200) {
        show(errorBox, begin.status === 401 ? 'Invalid email or password.' : errorMessage(begin));
        return;
      }
      let credential;
      try {
        credential = await getPasskey(begin.data.options);
      } catch (err) {
        show(errorBox, passkeyError(err));
        return;
      }
      const res = await api('POST', '/api/auth/passkey/finish', { credential: credential, return_to: returnTo, state: state });
      if (res.status === 200) {
        location.assign(res.data.redirect || '/');
        return;
      }
      show(errorBox, res.status === 401 ? 'That passkey was not accepted.' : errorMessage(res));
    } catch (err) {
      show(errorBox, networkError(err));
    }
    errorBox.focus();
  }

  $('#login-passkey').addEventListener('click', () => loginWithPasskey({}));
  passkeySecond.addEventListener('click', () => loginWithPasskey({
    email: $('#login-email').value.trim(), password: $('#login-password').value,
  }));

  function askForPasskey(onlyPasskey) {
    if (!passkeyOK) return;
    passkeySecond.hidden = false;
    $('#login-passkey-hint').hidden = !onlyPasskey;
    if (onlyPasskey) passkeySecond.focus();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    show(errorBox, '');
    const email = $('#login-email').value.trim();
    const password = $('#login-password').value;
    if (!email || !password) {
      show(errorBox, 'Enter your email and password.');
      (email ? $('#login-password') : $('#login-email')).focus();
      return;
    }
    const body = { email: email, password: password, return_to: returnTo, state: params.get('state') || '' };
    const code = totpField.hidden ? '' : totpInput.value.replace(/\s+/g, '');
    if (!totpField.hidden) {
      if (!code) {
        askForCode('Enter the code from your authenticator app or a recovery code.');
        return;
      }
      body.totp = code;
    }
    busy(form, true, 'Logging in…');
    let res;
    try {
      res = await api('POST', '/api/auth/login', body);
    } catch (err) {
      busy(form, false);
      show(errorBox, networkError(err));
      errorBox.focus();
      return;
    }
    if (res.status === 200) {
      location.assign(res.data.redirect || '/');
      return;
    }
    busy(form, false);
    if (res.status === 401 && res.data.reason === 'totp_required') {
      askForCode(code ? 'Enter the code from your authenticator app or a recovery code.' : '');
      askForPasskey(false);
      return;
    }
    if (res.status === 401 && res.data.reason === 'passkey_required') {
      askForPasskey(true);
      if (!passkeyOK) show(errorBox, 'This account confirms logins with a passkey, which this browser cannot use here.');
      return;
    }
    if (res.status === 401 && res.data.reason === 'totp_invalid') {
      totpInput.value = '';
      askForCode('That code is wrong or was already used. Wait for the app to show the next code, or use a recovery code you have not used yet.');
      return;
    }
    if (res.status === 401) {
      show(errorBox, 'Invalid email or password.');
      totpField.hidden = true;
      passkeySecond.hidden = true;
      $('#login-passkey-hint').hidden = true;
      totpInput.value = '';
      const pw = $('#login-password');
      pw.value = '';
      pw.focus();
      return;
    }
    show(errorBox, errorMessage(res));
    errorBox.focus();
  });

  $('#login-email').focus();
  rendered('login', 'Log in');
}
