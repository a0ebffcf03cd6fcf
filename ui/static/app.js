// ProxyOS dashboard. Plain JavaScript, no build step, loaded under a strict
// CSP: no inline scripts, no eval, no style attributes in markup.
//
// The server is the only source of truth for "logged in": this script keeps
// no flag of its own (nothing in localStorage, sessionStorage or cookies).
// Every page asks the server, and any 401 from the API sends the browser to
// the login page with the reason the server gave.
'use strict';

(function () {
  // ---------------------------------------------------------------- API

  // api calls the dashboard's JSON API and resolves to {status, data,
  // headers}. It never rejects for an HTTP error status, only for a network
  // failure.
  async function api(method, path, body) {
    const init = {
      method: method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    };
    if (method !== 'GET' && method !== 'HEAD') {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body || {});
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new NetworkError(err && err.message ? err.message : 'network error');
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    return { status: res.status, data: data || {}, headers: res.headers };
  }

  // NetworkError is thrown when the server cannot be reached at all.
  class NetworkError extends Error {}

  // NeedLogin is thrown by shell pages after a 401 has sent the browser to
  // the login page, so the page stops rendering.
  class NeedLogin extends Error {}

  // currentPath is where the login page should send the user back to.
  function currentPath() {
    return location.pathname + location.search;
  }

  // toLogin sends the browser to the login page with the server's reason.
  function toLogin(reason) {
    const q = new URLSearchParams();
    if (reason) q.set('reason', reason);
    q.set('return', currentPath());
    location.assign('/login?' + q.toString());
  }

  // authed calls the API from a logged-in page: a 401 goes to login.
  async function authed(method, path, body) {
    const res = await api(method, path, body);
    if (res.status === 401) {
      toLogin(res.data.reason || '');
      throw new NeedLogin();
    }
    return res;
  }

  // ---------------------------------------------------------------- DOM helpers

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // el builds an element; text is set with textContent, never as HTML.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // template returns a copy of a <template>'s content.
  function template(id) {
    return document.getElementById('tpl-' + id).content.cloneNode(true);
  }

  // mount replaces the whole page with nodes.
  function mount(nodes) {
    const app = document.getElementById('app');
    app.replaceChildren(nodes);
    return app;
  }

  // done marks the page as rendered (the browser tests wait for it).
  function done(page, title) {
    document.title = title + ' · ProxyOS';
    document.body.dataset.page = page;
  }

  function show(node, text) {
    node.textContent = text;
    node.hidden = !text;
  }

  // errorMessage turns an API error into a sentence.
  function errorMessage(res) {
    const d = res.data || {};
    if (res.status === 429) {
      const secs = retryAfter(res);
      const mins = Math.round(Number(secs) / 60);
      return secs
        ? 'Too many failed attempts. Try again in ' + secs + ' second' + (secs === '1' ? '' : 's') +
          (mins >= 2 ? ' (about ' + mins + ' minutes).' : '.')
        : 'Too many failed attempts. Try again later.';
    }
    if (d.error) return capitalize(stripField(d.error, d.field)) + '.';
    if (res.status >= 500) return 'The server had a problem (HTTP ' + res.status + '). Check Caddy\'s log.';
    return 'Unexpected answer from the server (HTTP ' + res.status + ').';
  }

  function retryAfter(res) {
    const v = res.headers.get('Retry-After');
    return v && /^\d+$/.test(v.trim()) ? v.trim() : '';
  }

  // stripField turns "password: must be at least 8 characters" into
  // "must be at least 8 characters".
  function stripField(msg, field) {
    if (field && msg.startsWith(field + ': ')) return msg.slice(field.length + 2);
    return msg;
  }

  function capitalize(s) {
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  }

  function networkError(err) {
    return 'Could not reach the server (' + (err && err.message ? err.message : 'network error') + ').';
  }

  // wirePasswordReveal makes the Show/Hide buttons next to password fields work.
  function wirePasswordReveal(root) {
    for (const btn of $$('button[data-reveal]', root)) {
      const input = document.getElementById(btn.dataset.reveal);
      btn.setAttribute('aria-controls', input.id);
      btn.setAttribute('aria-label', 'Show password');
      btn.addEventListener('click', () => {
        const reveal = input.type === 'password';
        input.type = reveal ? 'text' : 'password';
        btn.textContent = reveal ? 'Hide' : 'Show';
        btn.setAttribute('aria-pressed', String(reveal));
        btn.setAttribute('aria-label', reveal ? 'Hide password' : 'Show password');
        input.focus();
      });
    }
  }

  // busy disables a form's controls while a request runs.
  function busy(form, on, label) {
    for (const c of form.elements) c.disabled = on;
    const submit = $('button[type=submit]', form);
    if (on) {
      submit.dataset.label = submit.textContent;
      submit.textContent = label;
    } else if (submit.dataset.label) {
      submit.textContent = submit.dataset.label;
    }
    form.setAttribute('aria-busy', String(on));
  }

  // timeEl renders a time as a <time> with the date and, as a title, how
  // far away it is; no time is shown as the muted text none.
  function timeEl(iso, none) {
    if (!iso && none !== undefined) return el('span', { class: 'muted' }, none);
    const d = new Date(iso);
    const t = el('time', null, isNaN(d) ? String(iso || '') : formatDate(d));
    if (!isNaN(d)) {
      t.dateTime = d.toISOString();
      t.title = relativeTime(d);
    }
    return t;
  }

  // messages returns a page's two message boxes as functions: fail shows
  // an error (and moves the focus to it), done a notice; each hides the
  // other box.
  function messages(notice, errorBox) {
    return {
      fail(msg) {
        show(notice, '');
        show(errorBox, msg);
        errorBox.focus();
      },
      done(msg) {
        show(errorBox, '');
        show(notice, msg);
      },
    };
  }

  // sendFrom calls the API from a control, showing failures in box. It
  // resolves to the response, or null after a network error or a 401
  // (which has sent the browser to the login page).
  async function sendFrom(box, method, path, body) {
    try {
      return await authed(method, path, body);
    } catch (err) {
      if (err instanceof NeedLogin) return null;
      show(box, networkError(err));
      box.focus();
      return null;
    }
  }

  function formatDate(d) {
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  function relativeTime(d) {
    const secs = Math.round((d.getTime() - Date.now()) / 1000);
    const units = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
    const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
    for (const [unit, n] of units) {
      if (Math.abs(secs) >= n || unit === 'second') return rtf.format(Math.round(secs / n), unit);
    }
    return '';
  }

  // ---------------------------------------------------------------- setup

  async function setupPage() {
    const page = template('setup');
    mount(page);
    const form = $('#setup-form');
    const summary = $('#setup-error');
    const fields = { email: '#setup-email', password: '#setup-password', setup_code: '#setup-code' };
    wirePasswordReveal(form);

    function clearErrors() {
      show(summary, '');
      for (const sel of Object.values(fields)) {
        const input = $(sel);
        input.removeAttribute('aria-invalid');
        show(document.getElementById(input.id + '-error'), '');
      }
    }

    function fieldError(name, msg) {
      const sel = fields[name];
      if (!sel) return null;
      const input = $(sel);
      input.setAttribute('aria-invalid', 'true');
      show(document.getElementById(input.id + '-error'), msg);
      return input;
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors();
      const body = {
        email: $('#setup-email').value.trim(),
        password: $('#setup-password').value,
        setup_code: $('#setup-code').value.trim(),
      };
      busy(form, true, 'Creating…');
      let res;
      try {
        res = await api('POST', '/api/setup', body);
      } catch (err) {
        busy(form, false);
        show(summary, networkError(err));
        summary.focus();
        return;
      }
      if (res.status === 201 || res.status === 200) {
        location.assign(res.data.redirect || '/');
        return;
      }
      busy(form, false);
      if (res.status === 409) {
        summary.replaceChildren(
          'Setup is already complete: an admin exists. ',
          el('a', { href: '/login' }, 'Log in instead'),
          '.'
        );
        summary.hidden = false;
        summary.focus();
        return;
      }
      const msg = errorMessage(res);
      const d = res.data;
      const input = d.field ? fieldError(d.field, capitalize(stripField(d.error || '', d.field))) : null;
      const label = input ? $('label[for="' + input.id + '"]').textContent + ': ' : '';
      show(summary, input ? label + msg : msg);
      if (input) input.focus();
      else summary.focus();
    });

    $('#setup-email').focus();
    done('setup', 'Set up');
  }

  // ---------------------------------------------------------------- login

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

  async function loginPage() {
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

    mount(template('login'));
    const form = $('#login-form');
    const errorBox = $('#login-error');
    wirePasswordReveal(form);

    if (reason) {
      show($('#login-reason'), reasonMessages[reason] || 'Please log in again.');
    }

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
    done('login', 'Log in');
  }

  // ---------------------------------------------------------------- shell

  // navItems are the shell's menu; roles limits an item to those roles.
  // Pages in other scripts register their view with ProxyOS.register.
  const navItems = [
    { href: '/', label: 'Overview' },
    { href: '/routes', label: 'Routes' },
    { href: '/users', label: 'Users', roles: ['admin'] },
    { href: '/keys', label: 'API keys' },
    { href: '/account', label: 'Account' },
    { href: '/diagnostics', label: 'Diagnostics' },
    { href: '/audit', label: 'Audit log', roles: ['admin'] },
  ];

  // navCurrent says whether the menu item href is the current page or one
  // of its sub-pages (/routes for /routes/edit).
  function navCurrent(href) {
    const p = location.pathname;
    return href === p || (href !== '/' && p.startsWith(href + '/'));
  }

  // shell renders the logged-in frame for session s and returns main#content.
  function shell(s) {
    mount(template('shell'));
    const list = $('#nav .nav-list');
    for (const item of navItems) {
      if (item.roles && !item.roles.includes(s.user.role)) continue;
      const a = el('a', { href: item.href }, item.label);
      if (navCurrent(item.href)) a.setAttribute('aria-current', 'page');
      list.append(el('li', null, a));
    }
    show($('#current-user'), s.user.email);
    $('#current-user').title = s.user.email;
    show($('#current-role'), s.user.role);
    $('#current-role').classList.add('role-' + s.user.role);

    const logout = $('#logout');
    logout.addEventListener('click', async () => {
      logout.disabled = true;
      try {
        const res = await api('POST', '/api/auth/logout', {});
        if (res.status === 204 || res.status === 401) {
          location.assign('/login');
          return;
        }
        show($('#shell-error'), 'Logging out failed: ' + errorMessage(res));
      } catch (err) {
        show($('#shell-error'), 'Logging out failed: ' + networkError(err));
      }
      logout.disabled = false;
    });

    // When the tab comes back into view, ask the server again, so a session
    // ended elsewhere (logout in another tab, revocation) shows at once.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        authed('GET', '/api/auth/session').catch(() => {});
      }
    });
    return $('#content');
  }

  // sessionOrLogin fetches the session; a 401 goes to login.
  async function sessionOrLogin() {
    const res = await authed('GET', '/api/auth/session');
    if (res.status !== 200) throw new Error(errorMessage(res));
    return res.data;
  }

  // ---------------------------------------------------------------- overview

  async function overviewPage() {
    const s = await sessionOrLogin();
    const content = shell(s);
    const view = template('overview');
    for (const n of $$('.ov-email', view)) n.textContent = s.user.email;
    $('.ov-role', view).textContent = s.user.role;
    const exp = new Date(s.expires_at);
    const t = $('.ov-expires', view);
    if (isNaN(exp)) {
      t.textContent = String(s.expires_at || 'unknown');
    } else {
      t.dateTime = exp.toISOString();
      t.textContent = formatDate(exp);
      $('.ov-expires-rel', view).textContent = '(' + relativeTime(exp) + ')';
    }
    content.append(view);
    done('overview', 'Overview');
  }

  // ---------------------------------------------------------------- diagnostics

  // diagnoseFields lists the diagnose report's fields in display order with
  // readable labels. good says which value is healthy (for colouring).
  const diagnoseFields = [
    { key: 'fix', label: 'Suggested fix' },
    { key: 'session_valid', label: 'Session valid', good: true },
    { key: 'reason', label: 'Reason the session is not valid' },
    { key: 'cookie_received', label: 'Session cookie received', good: true },
    { key: 'scheme', label: 'Scheme the server sees' },
    { key: 'host', label: 'Host the server sees' },
    { key: 'canonical_url', label: 'Dashboard URL (url)' },
    { key: 'host_matches_canonical', label: 'Host matches dashboard URL', good: true },
    { key: 'scheme_matches_canonical', label: 'Scheme matches dashboard URL', good: true },
    { key: 'secure_cookie', label: 'Cookie sent with Secure' },
    { key: 'cookie_domain', label: 'Cookie domain' },
    { key: 'cookie_key_id', label: 'Key id of the cookie' },
    { key: 'current_key_id', label: 'Current key id' },
    { key: 'client_ip', label: 'Client IP' },
    { key: 'remote_addr', label: 'Remote address' },
    { key: 'trusted_proxy', label: 'Request came through a trusted proxy' },
    { key: 'forwarded_proto', label: 'X-Forwarded-Proto header' },
  ];

  const reasonLabels = {
    no_cookie: 'no cookie arrived',
    malformed: 'the cookie is not a proxyos session',
    unknown_key: 'signed with a secret that is no longer configured',
    bad_signature: 'the signature does not match (altered or forged)',
    expired: 'past its maximum age (session_ttl)',
    idle_timeout: 'unused for longer than session_idle',
    revoked: 'logged out or revoked',
    user_disabled: 'the account is disabled',
    other_host: 'a handoff session of another host',
  };

  // absentText is shown for fields the server left out of the report.
  const absentText = {
    reason: 'none',
    canonical_url: 'not configured',
    host_matches_canonical: 'n/a (no url configured)',
    scheme_matches_canonical: 'n/a (no url configured)',
    cookie_key_id: 'n/a (no cookie)',
    forwarded_proto: 'not sent',
  };

  function diagnoseValue(f, v) {
    if (v === undefined || v === null || v === '') {
      return el('span', { class: 'muted' }, absentText[f.key] || '—');
    }
    if (typeof v === 'boolean') {
      let cls = 'badge';
      if (f.good !== undefined) cls += v === f.good ? ' badge-good' : ' badge-bad';
      return el('span', { class: cls }, v ? 'Yes' : 'No');
    }
    if (f.key === 'reason') {
      const frag = document.createDocumentFragment();
      frag.append(el('code', null, v));
      if (reasonLabels[v]) frag.append(' — ' + reasonLabels[v]);
      return frag;
    }
    if (typeof v === 'object') return el('code', null, JSON.stringify(v));
    if (f.key === 'fix') return String(v);
    return el('code', null, String(v));
  }

  function renderDiagnosis(root, d) {
    const fix = $('#diagnose-fix', root);
    fix.textContent = d.fix || 'The server suggested no fix.';
    const healthy = d.session_valid === true && d.host_matches_canonical !== false &&
      d.scheme_matches_canonical !== false && (d.scheme === 'https' || !String(d.canonical_url || '').startsWith('https://'));
    fix.classList.toggle('fix-ok', healthy);
    const tbody = $('#diagnose-report tbody', root);
    tbody.replaceChildren();
    const known = new Set();
    const fields = diagnoseFields.slice();
    for (const f of fields) known.add(f.key);
    for (const k of Object.keys(d)) {
      if (!known.has(k)) fields.push({ key: k, label: k.replace(/_/g, ' ') });
    }
    for (const f of fields) {
      tbody.append(
        el('tr', { 'data-key': f.key },
          el('th', { scope: 'row' }, f.label),
          el('td', null, diagnoseValue(f, d[f.key])))
      );
    }
  }

  async function diagnosticsPage() {
    // The page works without a login: it is needed exactly when login fails.
    const [sessionRes, diagRes] = await Promise.all([
      api('GET', '/api/auth/session'),
      api('GET', '/api/auth/diagnose'),
    ]);
    let content;
    if (sessionRes.status === 200) {
      content = shell(sessionRes.data);
    } else {
      mount(template('public'));
      content = $('#content');
      $('#public-login').href = '/login?return=' + encodeURIComponent('/diagnostics');
    }
    const view = template('diagnostics');
    content.append(view);
    const root = $('#diagnostics');
    $('#diagnose-login', root).hidden = sessionRes.status === 200;
    $('.diag-origin', root).textContent = location.origin;

    if (diagRes.status !== 200) throw new Error(errorMessage(diagRes));
    let report = diagRes.data;
    renderDiagnosis(root, report);

    const refresh = $('#diagnose-refresh', root);
    refresh.addEventListener('click', async () => {
      refresh.disabled = true;
      try {
        const res = await api('GET', '/api/auth/diagnose');
        if (res.status === 200) {
          report = res.data;
          renderDiagnosis(root, report);
        } else {
          $('#diagnose-fix', root).textContent = errorMessage(res);
        }
      } catch (err) {
        $('#diagnose-fix', root).textContent = networkError(err);
      }
      refresh.disabled = false;
    });

    const copy = $('#diagnose-copy', root);
    if (navigator.clipboard && window.isSecureContext) {
      copy.hidden = false;
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(JSON.stringify(report, null, 2));
          copy.textContent = 'Copied';
        } catch (_) {
          copy.textContent = 'Copy failed';
        }
        setTimeout(() => { copy.textContent = 'Copy as JSON'; }, 2000);
      });
    }
    done('diagnostics', 'Diagnostics');
  }

  // ---------------------------------------------------------------- errors

  function errorPage(msg) {
    mount(template('error'));
    $('.error-message').textContent = msg;
    $('.error-retry').addEventListener('click', () => location.reload());
    done('error', 'Error');
  }

  // ---------------------------------------------------------------- router

  const pages = {
    '/': overviewPage,
    '/setup': setupPage,
    '/login': loginPage,
    '/diagnostics': diagnosticsPage,
  };

  // copyText puts text on the clipboard for a Copy button and says on the
  // button whether it worked. Where the clipboard is not available (plain
  // HTTP on another host than localhost) or refused, it selects node's
  // text instead, so the user can copy it with the keyboard.
  async function copyText(btn, text, node) {
    const label = btn.dataset.label || btn.textContent;
    btn.dataset.label = label;
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch (_) {
        copied = false;
      }
    }
    if (!copied && node) {
      if (typeof node.select === 'function') {
        node.focus();
        node.select();
      } else {
        window.getSelection().selectAllChildren(node);
      }
    }
    btn.textContent = copied ? 'Copied' : 'Selected: copy it now';
    clearTimeout(Number(btn.dataset.timer));
    btn.dataset.timer = String(setTimeout(() => { btn.textContent = label; }, 2500));
    return copied;
  }

  // confirmDialog asks a yes/no question in the page's dialog and resolves
  // to true for yes.
  function confirmDialog(title, text, yesLabel) {
    const dialog = $('#confirm-dialog');
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    $('#confirm-yes').textContent = yesLabel;
    const opener = document.activeElement;
    return new Promise((resolve) => {
      const yes = $('#confirm-yes');
      const no = $('#confirm-no');
      function finish(answer) {
        yes.removeEventListener('click', onYes);
        no.removeEventListener('click', onNo);
        dialog.removeEventListener('close', onClose);
        if (dialog.open) dialog.close();
        if (opener && opener.isConnected) opener.focus();
        resolve(answer);
      }
      const onYes = () => finish(true);
      const onNo = () => finish(false);
      // Escape. The close event of an earlier answer can arrive after the
      // dialog opened again; while it is open, that event is not for us.
      const onClose = () => { if (!dialog.open) finish(false); };
      yes.addEventListener('click', onYes);
      no.addEventListener('click', onNo);
      dialog.addEventListener('close', onClose);
      dialog.showModal();
      no.focus();
    });
  }

  // ProxyOS is what the other page scripts (routes.js, accounts.js,
  // audit.js, loaded after this one) use: the API helpers, the DOM helpers and register, which adds a
  // page to the router. They run before start looks a page up.
  window.ProxyOS = Object.freeze({
    api, authed, NeedLogin, NetworkError,
    $, $$, el, template, mount, done, show, busy,
    errorMessage, stripField, capitalize, networkError, formatDate, relativeTime,
    sessionOrLogin, shell, confirmDialog, wirePasswordReveal, copyText, timeEl, sendFrom, messages,
    register(path, page) {
      pages[path] = page;
    },
  });

  async function start() {
    const path = location.pathname;
    try {
      const status = await api('GET', '/api/setup/status');
      if (status.status !== 200) throw new Error(errorMessage(status));
      const required = !!status.data.setup_required;
      if (required && path !== '/setup') {
        location.replace('/setup');
        return;
      }
      if (!required && path === '/setup') {
        location.replace('/login');
        return;
      }
      await (pages[path] || overviewPage)();
    } catch (err) {
      if (err instanceof NeedLogin) return;
      errorPage(err instanceof NetworkError ? networkError(err) : err.message || String(err));
    }
  }

  // A page restored from the back/forward cache may show a session that has
  // ended since: load it again so the server decides.
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) location.reload();
  });

  // Deferred scripts run before DOMContentLoaded, so waiting for it lets
  // the page scripts after this one register their pages first.
  if (document.readyState === 'complete') {
    start();
  } else {
    document.addEventListener('DOMContentLoaded', start);
  }
})();
