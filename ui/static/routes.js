// ProxyOS dashboard: the route pages (list, create/edit form, history).
// Loaded after app.js, whose helpers it uses through window.ProxyOS.
//
// Route names, hosts, upstreams, bodies and the rest are user data: they
// only ever reach the page through textContent, attribute values and
// input values, never as HTML.
'use strict';

(function () {
  const P = window.ProxyOS;
  const { $, $$, el, authed, show, errorMessage, stripField, capitalize, confirmDialog } = P;

  // canWrite says whether a role may change routes; the server decides
  // (403), this only keeps viewers from seeing buttons they cannot use.
  function canWrite(s) {
    return s.user.role === 'admin' || s.user.role === 'operator';
  }

  function routePath(id) {
    return '/api/routes/' + encodeURIComponent(id);
  }

  // stale says whether an answer is the 409 for a version that changed
  // meanwhile (a host taken by another route is a 409 naming "hosts").
  function stale(res) {
    return res.status === 409 && (!res.data.field || res.data.field === 'version');
  }

  const kindLabels = { proxy: 'Proxy', redirect: 'Redirect', static: 'Static' };
  const tlsLabels = { auto: 'Auto (ACME)', internal: 'Internal CA', off: 'Off (HTTP)' };

  // displayName is a route's name, or its first host when it has none.
  function displayName(r) {
    return r.name || (r.hosts && r.hosts[0]) || 'Unnamed route';
  }

  // statusNodes shows whether a route is enabled and live, and the health
  // of its upstreams as the server last saw it.
  function statusNodes(r) {
    const wrap = el('div', { class: 'route-status' });
    const badges = el('div', { class: 'badges' });
    if (!r.enabled) {
      badges.append(el('span', { class: 'badge route-state' }, 'Disabled'));
    } else if (r.status && r.status.live === false) {
      badges.append(el('span', { class: 'badge badge-bad route-state', title: 'Enabled but not being served' }, 'Not live'));
    } else if (r.status && r.status.live) {
      badges.append(el('span', { class: 'badge badge-good route-state' }, 'Live'));
    } else {
      badges.append(el('span', { class: 'badge route-state' }, 'Enabled'));
    }
    wrap.append(badges);
    const ups = (r.status && r.status.upstreams) || [];
    if (ups.length) {
      const list = el('ul', { class: 'health-list' });
      for (const u of ups) {
        list.append(el('li', { class: u.healthy ? 'healthy' : 'unhealthy' },
          el('span', { class: 'health-dot', 'aria-hidden': 'true' }),
          el('span', { class: 'health-addr' }, String(u.address || '')),
          ' ',
          el('span', { class: 'health-word' }, u.healthy ? 'up' : 'down')));
      }
      wrap.append(list);
    }
    // Warnings explain settings that will not work in a browser, such as
    // a login that would loop because the cookie does not reach a host.
    for (const w of (Array.isArray(r.warnings) ? r.warnings : [])) {
      wrap.append(el('p', { class: 'route-warning' }, String(w.message || '')));
    }
    return wrap;
  }

  // targetNodes says where a route sends requests.
  function targetNodes(r) {
    const wrap = el('div', { class: 'route-kind' });
    wrap.append(el('span', { class: 'badge kind-' + r.kind }, kindLabels[r.kind] || String(r.kind)));
    const detail = el('div', { class: 'route-target small' });
    if (r.kind === 'proxy') {
      const ups = r.upstreams || [];
      detail.textContent = ups.length > 2 ? ups.slice(0, 2).join(', ') + ' +' + (ups.length - 2) : ups.join(', ');
    } else if (r.kind === 'redirect' && r.redirect) {
      detail.textContent = '→ ' + (r.redirect.to || '') + ' (' + (r.redirect.status || 308) + ')';
    } else if (r.kind === 'static' && r.static) {
      detail.textContent = 'Status ' + (r.static.status || 200);
    }
    if (detail.textContent) wrap.append(detail);
    return wrap;
  }

  // searchText is what the search box matches against.
  function searchText(r) {
    return [r.name, ...(r.hosts || []), ...(r.upstreams || []), r.redirect && r.redirect.to]
      .filter(Boolean).join('\n').toLowerCase();
  }

  // ---------------------------------------------------------------- routes list

  async function routesPage() {
    const s = await P.sessionOrLogin();
    const res = await authed('GET', '/api/routes');
    if (res.status !== 200) throw new Error(errorMessage(res));
    let routes = Array.isArray(res.data.routes) ? res.data.routes : [];
    const writer = canWrite(s);

    const content = P.shell(s);
    content.append(P.template('routes'));
    const root = $('#routes');
    const tbody = $('#routes-table tbody', root);
    const search = $('#routes-search', root);
    const errorBox = $('#routes-error', root);
    const notice = $('#routes-notice', root);

    const newBtn = $('#route-new', root);
    if (writer) {
      newBtn.addEventListener('click', () => location.assign('/routes/new'));
    } else {
      newBtn.remove();
      $('.routes-empty-write', root).remove();
      $('.routes-empty-read', root).hidden = false;
    }

    // A save on the edit page comes back here with ?saved=<id>.
    const params = new URLSearchParams(location.search);
    const saved = params.get('saved');
    if (saved) {
      const r = routes.find((x) => x.id === saved);
      if (r) {
        const warned = Array.isArray(r.warnings) && r.warnings.length > 0;
        show(notice, 'Saved “' + displayName(r) + '”. The change is live.' + (warned ? ' See the warning under its status.' : ''));
      }
      history.replaceState(null, '', location.pathname);
    }

    function row(r) {
      const name = el('th', { scope: 'row', 'data-label': 'Name' });
      name.append(el('span', { class: r.name ? 'route-name' : 'route-name muted' }, displayName(r)));
      const hosts = el('ul', { class: 'host-list' });
      for (const h of r.hosts || []) hosts.append(el('li', null, h));
      const actions = el('td', { class: 'row-actions', 'data-label': 'Actions' });
      const label = displayName(r);
      actions.append(el('a', {
        class: 'btn btn-small route-edit',
        href: '/routes/edit?id=' + encodeURIComponent(r.id),
        'aria-label': (writer ? 'Edit ' : 'View ') + label,
      }, writer ? 'Edit' : 'View'));
      if (writer) {
        const toggle = el('button', {
          type: 'button',
          class: 'btn btn-small route-toggle',
          'aria-label': (r.enabled ? 'Disable ' : 'Enable ') + label,
        }, r.enabled ? 'Disable' : 'Enable');
        toggle.addEventListener('click', () => toggleRoute(r, toggle));
        const del = el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet route-delete', 'aria-label': 'Delete ' + label }, 'Delete');
        del.addEventListener('click', () => deleteRoute(r, del));
        actions.append(toggle, del);
      }
      const tr = el('tr', { 'data-route-id': r.id, class: r.enabled ? '' : 'route-disabled' },
        name,
        el('td', { 'data-label': 'Hosts' }, hosts),
        el('td', { 'data-label': 'Kind' }, targetNodes(r)),
        el('td', { 'data-label': 'TLS' }, tlsLabels[r.tls] || String(r.tls || '')),
        el('td', { 'data-label': 'Status' }, statusNodes(r)),
        actions);
      return tr;
    }

    function render() {
      const q = search.value.trim().toLowerCase();
      const shown = routes.filter((r) => !q || searchText(r).includes(q));
      tbody.replaceChildren(...shown.map(row));
      $('#routes-empty', root).hidden = routes.length !== 0;
      $('#routes-no-match', root).hidden = routes.length === 0 || shown.length !== 0;
      $('#routes-list', root).hidden = shown.length === 0;
      search.closest('.search-row').hidden = routes.length === 0;
      const n = routes.length;
      $('#routes-count', root).textContent = q
        ? shown.length + ' of ' + n + ' route' + (n === 1 ? '' : 's')
        : n + ' route' + (n === 1 ? '' : 's');
    }

    async function reload() {
      const r = await authed('GET', '/api/routes');
      if (r.status === 200 && Array.isArray(r.data.routes)) routes = r.data.routes;
      render();
    }

    const { fail } = P.messages(notice, errorBox);

    async function toggleRoute(r, btn) {
      show(errorBox, '');
      btn.disabled = true;
      const body = Object.assign({}, r, { enabled: !r.enabled });
      delete body.status;
      let res;
      try {
        res = await authed('PUT', routePath(r.id), body);
      } catch (err) {
        if (err instanceof P.NeedLogin) return;
        btn.disabled = false;
        fail(P.networkError(err));
        return;
      }
      if (res.status === 200) {
        routes = routes.map((x) => (x.id === r.id ? res.data : x));
        render();
        show(notice, (res.data.enabled ? 'Enabled' : 'Disabled') + ' “' + displayName(res.data) + '”.');
        const again = $('tr[data-route-id="' + CSS.escape(r.id) + '"] .route-toggle', root);
        if (again) again.focus();
        return;
      }
      if (stale(res)) {
        await reload();
        fail('“' + displayName(r) + '” was changed by someone else. The list now shows the current state; try again.');
        return;
      }
      if (res.status === 404) {
        await reload();
        fail('“' + displayName(r) + '” no longer exists.');
        return;
      }
      btn.disabled = false;
      fail('Could not ' + (r.enabled ? 'disable' : 'enable') + ' “' + displayName(r) + '”: ' + errorMessage(res));
    }

    async function deleteRoute(r, btn) {
      show(errorBox, '');
      const yes = await confirmDialog('Delete route?',
        'Delete “' + displayName(r) + '” (' + (r.hosts || []).join(', ') + ')? It stops being served at once.',
        'Delete');
      if (!yes) return;
      btn.disabled = true;
      let res;
      try {
        // With the version read, a route changed meanwhile is not deleted.
        res = await authed('DELETE', routePath(r.id), { version: r.version });
      } catch (err) {
        if (err instanceof P.NeedLogin) return;
        btn.disabled = false;
        fail(P.networkError(err));
        return;
      }
      if (res.status === 204 || res.status === 200 || res.status === 404) {
        routes = routes.filter((x) => x.id !== r.id);
        render();
        show(notice, 'Deleted “' + displayName(r) + '”.');
        search.focus();
        return;
      }
      if (stale(res)) {
        await reload();
        fail('“' + displayName(r) + '” was changed by someone else, so it was not deleted. The list now shows the current state.');
        return;
      }
      btn.disabled = false;
      fail('Could not delete “' + displayName(r) + '”: ' + errorMessage(res));
    }

    search.addEventListener('input', render);
    render();
    P.done('routes', 'Routes');
  }

  // ---------------------------------------------------------------- form ⇄ route

  // list splits a textarea into entries: one per line or comma-separated.
  function list(text) {
    return text.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  }

  const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

  // unchanged stands for a request header value the server keeps secret:
  // the API shows such values as null, and takes null to keep them.
  const unchanged = '(unchanged)';

  // parseHeaders reads "Name: value" (set) and "-Name" (delete) lines;
  // with secret, a value of "(unchanged)" keeps the stored one.
  function parseHeaders(text, secret) {
    const ops = { set: {}, delete: [] };
    const errors = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (!line) return;
      const where = 'Line ' + (i + 1) + ': ';
      if (line.startsWith('-')) {
        const name = line.slice(1).trim();
        if (!headerName.test(name)) errors.push(where + '“' + name + '” is not a header name.');
        else ops.delete.push(name);
        return;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) {
        errors.push(where + 'write “Name: value” to set a header or “-Name” to remove one.');
        return;
      }
      const name = line.slice(0, colon).trim();
      if (!headerName.test(name)) {
        errors.push(where + '“' + name + '” is not a header name.');
        return;
      }
      const value = line.slice(colon + 1).trim();
      ops.set[name] = secret && value === unchanged ? null : value;
    });
    const empty = Object.keys(ops.set).length === 0 && ops.delete.length === 0;
    if (!Object.keys(ops.set).length) delete ops.set;
    if (!ops.delete.length) delete ops.delete;
    return { ops: empty ? null : ops, errors: errors };
  }

  function formatHeaders(ops) {
    if (!ops) return '';
    const lines = [];
    for (const [k, v] of Object.entries(ops.set || {})) lines.push(k + ': ' + (v === null ? unchanged : v));
    for (const k of ops.delete || []) lines.push('-' + k);
    return lines.join('\n');
  }

  // The form's inputs by short name; ids are route-<name>.
  const ids = [
    'name', 'hosts', 'kind', 'tls', 'enabled',
    'upstreams', 'lb-policy', 'hc-path', 'hc-interval', 'hc-timeout',
    'upstream-skip-verify', 'upstream-server-name', 'upstream-host', 'strip-prefix',
    'redirect-to', 'redirect-status', 'redirect-preserve',
    'static-status', 'static-content-type', 'static-body',
    'hsts', 'force-https', 'compress', 'access-allow', 'access-deny',
    'auth-login', 'auth-roles', 'req-headers', 'resp-headers',
  ];

  function input(name) {
    return document.getElementById('route-' + name);
  }

  function val(name) {
    return input(name).value;
  }

  function checked(name) {
    return input(name).checked;
  }

  // The Route fields the form edits. Other fields of a loaded route (ones
  // a newer server added) are sent back unchanged.
  const managedFields = [
    'name', 'enabled', 'hosts', 'kind', 'tls', 'upstreams', 'upstream_host', 'load_balancing', 'upstream_tls',
    'redirect', 'static', 'headers', 'hsts', 'force_https', 'compress', 'strip_prefix', 'access', 'auth',
  ];

  // readForm builds the Route JSON from the form. Only the section of the
  // chosen kind is sent: the server refuses, say, a redirect on a proxy.
  function readForm() {
    const kind = val('kind');
    const r = {
      name: val('name').trim(),
      enabled: checked('enabled'),
      hosts: list(val('hosts')),
      kind: kind,
      tls: val('tls'),
    };
    if (kind === 'proxy') {
      r.upstreams = list(val('upstreams'));
      const lb = {};
      const hc = {};
      if (val('hc-path').trim() || val('hc-interval').trim() || val('hc-timeout').trim()) {
        hc.path = val('hc-path').trim();
        if (val('hc-interval').trim()) hc.interval = val('hc-interval').trim();
        if (val('hc-timeout').trim()) hc.timeout = val('hc-timeout').trim();
        lb.health_check = hc;
      }
      if (val('lb-policy') !== 'random' || lb.health_check) lb.policy = val('lb-policy');
      if (Object.keys(lb).length) r.load_balancing = lb;
      const sn = val('upstream-server-name').trim();
      if (checked('upstream-skip-verify') || sn) {
        r.upstream_tls = {};
        if (checked('upstream-skip-verify')) r.upstream_tls.skip_verify = true;
        if (sn) r.upstream_tls.server_name = sn;
      }
      if (val('upstream-host').trim()) r.upstream_host = val('upstream-host').trim();
      if (val('strip-prefix').trim()) r.strip_prefix = val('strip-prefix').trim();
    } else if (kind === 'redirect') {
      r.redirect = {
        to: val('redirect-to').trim(),
        status: Number(val('redirect-status')),
        preserve_path: checked('redirect-preserve'),
      };
    } else if (kind === 'static') {
      r.static = { body: val('static-body') };
      const st = val('static-status').trim();
      if (st) r.static.status = /^\d+$/.test(st) ? Number(st) : -1;
      if (val('static-content-type').trim()) r.static.content_type = val('static-content-type').trim();
    }
    const headers = {};
    if (kind === 'proxy') {
      const req = parseHeaders(val('req-headers'), true).ops;
      if (req) headers.request = req;
    }
    const resp = parseHeaders(val('resp-headers')).ops;
    if (resp) headers.response = resp;
    if (Object.keys(headers).length) r.headers = headers;
    if (checked('hsts')) r.hsts = true;
    if (checked('force-https')) r.force_https = true;
    if (checked('compress')) r.compress = true;
    const allow = list(val('access-allow'));
    const deny = list(val('access-deny'));
    if (allow.length || deny.length) {
      r.access = {};
      if (allow.length) r.access.allow = allow;
      if (deny.length) r.access.deny = deny;
    }
    const roles = list(val('auth-roles'));
    if (checked('auth-login') || roles.length) {
      r.auth = { require_login: checked('auth-login') };
      if (roles.length) r.auth.roles = roles;
    }
    return r;
  }

  // fillForm shows route r (or the defaults of a new route) in the form.
  function fillForm(r) {
    r = r || {};
    const lb = r.load_balancing || {};
    const hc = lb.health_check || {};
    const ut = r.upstream_tls || {};
    const rd = r.redirect || {};
    const st = r.static || {};
    const hd = r.headers || {};
    const ac = r.access || {};
    const au = r.auth || {};
    input('name').value = r.name || '';
    input('hosts').value = (r.hosts || []).join('\n');
    input('kind').value = r.kind || 'proxy';
    input('tls').value = r.tls || 'auto';
    input('enabled').checked = r.enabled !== false;
    input('upstreams').value = (r.upstreams || []).join('\n');
    input('lb-policy').value = lb.policy || 'random';
    input('hc-path').value = hc.path || '';
    input('hc-interval').value = hc.interval || '';
    input('hc-timeout').value = hc.timeout || '';
    input('upstream-skip-verify').checked = !!ut.skip_verify;
    input('upstream-server-name').value = ut.server_name || '';
    input('upstream-host').value = r.upstream_host || '';
    input('strip-prefix').value = r.strip_prefix || '';
    input('redirect-to').value = rd.to || '';
    input('redirect-status').value = String(rd.status || 308);
    input('redirect-preserve').checked = !!rd.preserve_path;
    input('static-status').value = st.status ? String(st.status) : '';
    input('static-content-type').value = st.content_type || '';
    input('static-body').value = st.body || '';
    input('hsts').checked = !!r.hsts;
    input('force-https').checked = !!r.force_https;
    input('compress').checked = !!r.compress;
    input('access-allow').value = (ac.allow || []).join('\n');
    input('access-deny').value = (ac.deny || []).join('\n');
    input('auth-login').checked = !!au.require_login;
    input('auth-roles').value = (au.roles || []).join(' ');
    input('req-headers').value = formatHeaders(hd.request);
    input('resp-headers').value = formatHeaders(hd.response);
  }

  // showSections shows the part of the form that applies to the kind.
  function showSections() {
    const kind = val('kind');
    $('#section-proxy').hidden = kind !== 'proxy';
    $('#section-redirect').hidden = kind !== 'redirect';
    $('#section-static').hidden = kind !== 'static';
    $('#field-req-headers').hidden = kind !== 'proxy';
  }

  // ---------------------------------------------------------------- live validation

  // Client-side checks catch obvious mistakes while typing; the server's
  // answer is the authority. Each check gets final=false while the user is
  // still typing into a field they have not left yet: then only errors
  // that more typing cannot fix are reported (an empty field or "htt" is
  // fine, "10.0.0.5:3000" is not).
  function prefixOf(s, words) {
    return words.some((w) => w.startsWith(s));
  }

  const schemes = ['http://', 'https://'];

  function checkUrl(u, final) {
    const lower = u.toLowerCase();
    if (!/^https?:\/\//.test(lower)) {
      if (!final && prefixOf(lower, schemes)) return '';
      return '“' + u + '” must start with http:// or https://.';
    }
    return '';
  }

  const durationRe = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
  const ipOrCidr = /^([0-9.]+|[0-9a-f:.]+)(\/\d{1,3})?$/i;
  const roleNames = ['admin', 'operator', 'viewer'];

  const checks = {
    'name': () => (val('name').trim().length > 200 ? 'At most 200 characters.' : ''),
    'hosts': (final) => {
      const hosts = list(val('hosts'));
      if (!hosts.length) return final ? 'Enter at least one host name, e.g. app.example.com.' : '';
      const seen = new Set();
      for (const h of hosts) {
        const lower = h.toLowerCase();
        if (/^[a-z][a-z0-9+.-]*:\/\//.test(lower)) {
          return '“' + h + '” is a URL: enter only the host name, e.g. ' + (lower.split('://')[1].split(/[/:]/)[0] || 'app.example.com') + '.';
        }
        if (lower.includes('/')) return '“' + h + '”: enter only the host name, without a path.';
        if (final && (lower.match(/:/g) || []).length === 1) return '“' + h + '”: enter the host name without a port.';
        if (lower.replace(/^\*\./, '').includes('*')) return '“' + h + '”: a wildcard may only be the whole first label, as in *.example.com.';
        const norm = lower.replace(/\.$/, '');
        if (seen.has(norm)) return '“' + h + '” is listed twice.';
        seen.add(norm);
      }
      return '';
    },
    'upstreams': (final) => {
      if (val('kind') !== 'proxy') return '';
      const ups = list(val('upstreams'));
      if (!ups.length) return final ? 'Enter at least one upstream, e.g. http://10.0.0.5:3000.' : '';
      let scheme = '';
      for (const u of ups) {
        const msg = checkUrl(u, final);
        if (msg) return msg;
        const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(u);
        if (!m) continue;
        if (final && !m[2]) return '“' + u + '”: the host is missing.';
        if (m[3] && m[3] !== '/') return '“' + u + '”: an upstream is scheme://host:port, without a path or query.';
        const s = m[1].toLowerCase();
        if (scheme && s !== scheme) return 'All upstreams must use the same scheme: all http:// or all https://.';
        scheme = s;
      }
      return '';
    },
    'hc-path': (final) => {
      if (val('kind') !== 'proxy') return '';
      const p = val('hc-path').trim();
      if (p && !p.startsWith('/')) return 'Start the path with /, e.g. /healthz.';
      if (!p && final && (val('hc-interval').trim() || val('hc-timeout').trim())) return 'Enter a path to check, or clear the interval and timeout.';
      return '';
    },
    'hc-interval': (final) => checkDuration('hc-interval', final),
    'hc-timeout': (final) => checkDuration('hc-timeout', final),
    'upstream-skip-verify': () => upstreamTLSCheck('upstream-skip-verify'),
    'upstream-server-name': () => {
      const sn = val('upstream-server-name').trim();
      if (sn && /[/:\s]/.test(sn)) return 'Enter a host name only, e.g. nas.lan.';
      return upstreamTLSCheck('upstream-server-name');
    },
    'strip-prefix': () => {
      const p = val('strip-prefix').trim();
      if (val('kind') !== 'proxy' || !p) return '';
      if (!p.startsWith('/')) return 'Start the prefix with /, e.g. /api.';
      if (/[?#*{}\s]/.test(p)) return 'Enter a plain path such as /api, without ?, #, * or braces.';
      return '';
    },
    'redirect-to': (final) => {
      if (val('kind') !== 'redirect') return '';
      const to = val('redirect-to').trim();
      if (!to) return final ? 'Enter the URL to redirect to, e.g. https://new.example.com.' : '';
      const msg = checkUrl(to, final);
      if (msg) return 'Enter an absolute URL: ' + msg.charAt(0).toLowerCase() + msg.slice(1);
      if (final && !/^https?:\/\/[^/?#\s]+/i.test(to)) return 'The URL needs a host, e.g. https://new.example.com.';
      return '';
    },
    'static-status': (final) => {
      if (val('kind') !== 'static') return '';
      const st = val('static-status').trim();
      if (!st) return '';
      if (!/^\d+$/.test(st)) return 'Enter a number between 200 and 599.';
      const n = Number(st);
      if (n > 599 || (final && n < 200) || st.length > 3) return 'Enter a status between 200 and 599.';
      return '';
    },
    'static-content-type': () => '',
    'hsts': () => (checked('hsts') && val('tls') === 'off' ? 'HSTS needs TLS: choose Automatic or Internal above.' : ''),
    'force-https': () => (checked('force-https') && val('tls') === 'off' ? 'Redirecting to HTTPS needs TLS: choose Automatic or Internal above.' : ''),
    'access-allow': () => checkAddresses('access-allow'),
    'access-deny': () => checkAddresses('access-deny'),
    'auth-roles': () => {
      const roles = list(val('auth-roles'));
      for (const r of roles) {
        if (!roleNames.includes(r)) return '“' + r + '” is not a role: use admin, operator or viewer.';
      }
      if (roles.length && !checked('auth-login')) return 'Roles apply only with “Require a dashboard login” checked.';
      return '';
    },
    'req-headers': () => (val('kind') === 'proxy' ? parseHeaders(val('req-headers'), true).errors[0] || checkRequestHeaders() : ''),
    'upstream-host': () => {
      const h = val('upstream-host').trim();
      if (val('kind') !== 'proxy' || !h) return '';
      if (!/^[a-z0-9_.-]+(:\d{1,5})?$/i.test(h) || h.startsWith('*')) return 'Enter a host name, optionally with a port, e.g. nas.lan or nas.lan:8443.';
      return '';
    },
    'resp-headers': () => parseHeaders(val('resp-headers')).errors[0] || '',
  };

  // checkRequestHeaders refuses what the server refuses: Host (the
  // upstream_host field sets it) and the hop-by-hop headers.
  function checkRequestHeaders() {
    const ops = parseHeaders(val('req-headers'), true).ops || {};
    for (const name of Object.keys(ops.set || {}).concat(ops.delete || [])) {
      const n = name.toLowerCase();
      if (n === 'host') return 'Set the Host header with “Host header to the upstream” above.';
      if (['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length'].includes(n) || n.startsWith('proxy-')) {
        return '“' + name + '” is a hop-by-hop header, which routes cannot change.';
      }
    }
    return '';
  }

  function checkDuration(name, final) {
    if (val('kind') !== 'proxy') return '';
    const v = val(name).trim();
    if (!v) return '';
    if (!final && /^[0-9.nuµmsh]*$/.test(v)) return '';
    if (!durationRe.test(v) || !/[1-9]/.test(v)) return 'Enter a duration such as 30s, 1m or 1m30s.';
    return '';
  }

  function upstreamTLSCheck(name) {
    if (val('kind') !== 'proxy') return '';
    const on = name === 'upstream-skip-verify' ? checked(name) : val(name).trim() !== '';
    const ups = list(val('upstreams'));
    if (on && ups.length && ups.every((u) => /^http:\/\//i.test(u))) {
      return 'Applies only to https:// upstreams; your upstreams use http://.';
    }
    return '';
  }

  function checkAddresses(name) {
    for (const a of list(val(name))) {
      if (!ipOrCidr.test(a)) return '“' + a + '” is not an IP address or CIDR range (e.g. 10.0.0.0/8).';
    }
    return '';
  }

  // serverFieldInput maps a field path of the server's 400 answer
  // (hosts[2], load_balancing.health_check.path, …) to the input's name.
  function serverFieldInput(field) {
    const f = String(field || '').replace(/\[\d+\]/g, '');
    const map = {
      'name': 'name',
      'hosts': 'hosts',
      'kind': 'kind',
      'tls': 'tls',
      'enabled': 'enabled',
      'upstreams': 'upstreams',
      'load_balancing': 'lb-policy',
      'load_balancing.policy': 'lb-policy',
      'load_balancing.health_check': 'hc-path',
      'load_balancing.health_check.path': 'hc-path',
      'load_balancing.health_check.interval': 'hc-interval',
      'load_balancing.health_check.timeout': 'hc-timeout',
      'upstream_tls': 'upstream-skip-verify',
      'upstream_tls.skip_verify': 'upstream-skip-verify',
      'upstream_tls.server_name': 'upstream-server-name',
      'upstream_host': 'upstream-host',
      'strip_prefix': 'strip-prefix',
      'redirect': 'redirect-to',
      'redirect.to': 'redirect-to',
      'redirect.status': 'redirect-status',
      'redirect.preserve_path': 'redirect-preserve',
      'static': 'static-status',
      'static.status': 'static-status',
      'static.body': 'static-body',
      'static.content_type': 'static-content-type',
      'hsts': 'hsts',
      'force_https': 'force-https',
      'compress': 'compress',
      'access': 'access-allow',
      'access.allow': 'access-allow',
      'access.deny': 'access-deny',
      'auth': 'auth-login',
      'auth.require_login': 'auth-login',
      'auth.roles': 'auth-roles',
      'headers': 'resp-headers',
      'headers.request': 'req-headers',
      'headers.response': 'resp-headers',
    };
    // The longest known prefix wins: headers.request.set → req-headers.
    for (let k = f; k; k = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : '') {
      if (map[k]) return map[k];
    }
    return null;
  }

  // labelOf is the visible label of an input, for the error summary.
  function labelOf(name) {
    const label = $('label[for="route-' + name + '"]');
    return label ? label.textContent : name;
  }

  // ---------------------------------------------------------------- route editor

  async function routeEditPage() {
    const s = await P.sessionOrLogin();
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

    const content = P.shell(s);
    content.append(P.template('route-edit'));
    const root = $('#route-edit');
    const form = $('#route-form');
    const summary = $('#route-error');
    const notice = $('#route-notice');
    const save = $('#route-save');

    if (loadError) {
      show(summary, loadError);
      form.remove();
      $('#route-title').textContent = 'Route not found';
      P.done('route-edit', 'Route not found');
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
      if (!isNaN(upd)) parts.push('updated ' + P.formatDate(upd));
      meta.textContent = parts.join(' · ');
      meta.hidden = false;
      const live = $('#route-live');
      live.replaceChildren(statusNodes(loaded));
      live.hidden = false;
      document.title = displayName(loaded) + ' · ProxyOS';
    }

    // applyErrors shows the client-side and server-side errors; it returns
    // the inputs in error, in form order.
    function applyErrors() {
      const bad = [];
      for (const name of ids) {
        const inp = input(name);
        const box = document.getElementById(inp.id + '-error');
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
      return bad;
    }

    form.addEventListener('input', (ev) => {
      const name = ev.target.id ? ev.target.id.replace(/^route-/, '') : '';
      serverErrors.delete(name);
      if (name === 'kind') showSections();
      applyErrors();
    });
    form.addEventListener('change', (ev) => {
      const name = ev.target.id ? ev.target.id.replace(/^route-/, '') : '';
      if (ev.target.type === 'checkbox' || ev.target.tagName === 'SELECT') touched.add(name);
      if (name === 'kind') showSections();
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
      showSections();
      serverErrors.clear();
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
        const name = first.id.replace(/^route-/, '');
        const msg = document.getElementById(first.id + '-error').textContent;
        show(summary, (bad.length === 1 ? '' : 'Check the ' + bad.length + ' highlighted fields. ') + labelOf(name) + ': ' + msg);
        first.focus();
        return;
      }
      let body = readForm();
      if (loaded) {
        const base = Object.assign({}, loaded);
        delete base.status;
        for (const k of managedFields) delete base[k];
        body = Object.assign(base, body, { id: loaded.id, version: loaded.version });
      }
      P.busy(form, true, isNew ? 'Creating…' : 'Saving…');
      let res;
      try {
        res = isNew ? await authed('POST', '/api/routes', body) : await authed('PUT', routePath(loaded.id), body);
      } catch (err) {
        if (err instanceof P.NeedLogin) return;
        P.busy(form, false);
        show(summary, P.networkError(err));
        summary.focus();
        return;
      }
      if (res.status === 201 || res.status === 200) {
        location.assign('/routes?saved=' + encodeURIComponent(res.data.id || (loaded && loaded.id) || ''));
        return;
      }
      P.busy(form, false);
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
        if (err instanceof P.NeedLogin) return;
        show(historyError, P.networkError(err));
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
      const when = el('time', null, isNaN(at) ? String(v.at || '') : P.formatDate(at));
      if (!isNaN(at)) {
        when.dateTime = at.toISOString();
        when.title = P.relativeTime(at);
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
        if (err instanceof P.NeedLogin) return;
        btn.disabled = false;
        show(historyError, P.networkError(err));
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

    load(loaded);
    if (loaded) await loadHistory();
    if (writer) input('name').focus();
    P.done('route-edit', loaded ? displayName(loaded) : 'New route');
  }

  P.register('/routes', routesPage);
  P.register('/routes/new', routeEditPage);
  P.register('/routes/edit', routeEditPage);
})();
