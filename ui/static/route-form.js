// ProxyOS dashboard: the route editor's form: reading a route from it and
// showing one in it, its live validation, and which input a field of the
// server's answer belongs to. The inputs are named by the rest of their
// id: input('hc-path') is #route-hc-path.

import { $, el } from './dom.js';

// list splits a textarea into entries: one per line or comma-separated.
function list(text) {
  return text.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

// lines splits text into its non-empty lines, trimmed: group names may
// hold spaces and commas.
function lines(text) {
  return text.split(/\r?\n/).map((x) => x.trim()).filter(Boolean);
}

const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// unchanged stands for a request header value the server keeps secret:
// the API shows such values as null, and takes null to keep them.
const unchanged = '(unchanged)';

// parseHeaders reads "Name: value" (set) and "-Name" (delete) lines;
// with secret, a value of "(unchanged)" keeps the stored one. (The
// locations' request headers are read with it too.)
export function parseHeaders(text, secret) {
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

// formatHeaders writes header edits as parseHeaders reads them, a
// hidden (null) value as "(unchanged)".
export function formatHeaders(ops) {
  if (!ops) return '';
  const lines = [];
  for (const [k, v] of Object.entries(ops.set || {})) lines.push(k + ': ' + (v === null ? unchanged : v));
  for (const k of ops.delete || []) lines.push('-' + k);
  return lines.join('\n');
}

// parseRules reads access rules, one per line as the Caddyfile writes
// them: an action (allow, deny, login), then a path (starting with / or
// *), methods (upper case) and IP ranges, told apart by their shape.
export function parseRules(text) {
  const rules = [];
  const errors = [];
  text.split('\n').forEach((raw, i) => {
    const words = raw.trim().split(/\s+/).filter(Boolean);
    if (!words.length || words[0].startsWith('#')) return;
    const where = 'Line ' + (i + 1) + ': ';
    const rule = { action: words[0] };
    if (!['allow', 'deny', 'login'].includes(rule.action)) {
      errors.push(where + 'start with allow, deny or login.');
      return;
    }
    for (const w of words.slice(1)) {
      if (w.startsWith('/') || w.startsWith('*')) {
        if (rule.path) {
          errors.push(where + 'one path per rule; write a rule per path.');
          return;
        }
        rule.path = w;
      } else if (/^[A-Z]+$/.test(w)) {
        (rule.methods = rule.methods || []).push(w);
      } else if (ipOrCidr.test(w)) {
        (rule.cidrs = rule.cidrs || []).push(w);
      } else {
        errors.push(where + '“' + w + '” is not a path (/…), a method (GET) or an IP range (10.0.0.0/8).');
        return;
      }
    }
    rules.push(rule);
  });
  return { rules: rules, errors: errors };
}

// formatRules writes rules as parseRules reads them.
function formatRules(rules) {
  return (rules || []).map((r) => [r.action, r.path || ''].concat(r.methods || [], r.cidrs || []).filter(Boolean).join(' ')).join('\n');
}

// The form's inputs by short name; ids are route-<name>.
export const ids = [
  'name', 'hosts', 'kind', 'tls', 'certificate', 'challenge', 'dns-credential', 'enabled',
  'upstreams', 'lb-policy', 'hc-path', 'hc-interval', 'hc-timeout',
  'upstream-skip-verify', 'upstream-server-name', 'upstream-host', 'strip-prefix',
  'redirect-to', 'redirect-status', 'redirect-preserve',
  'static-status', 'static-content-type', 'static-body',
  'hsts', 'force-https', 'compress', 'request-log', 'request-log-size', 'access-allow', 'access-deny',
  'auth-login', 'auth-roles', 'auth-emails', 'auth-groups', 'auth-rules', 'req-headers', 'resp-headers',
  'rate-requests', 'rate-per', 'rate-key', 'rate-header', 'rate-burst',
  'error-page-404', 'error-page-502', 'error-page-503', 'error-page-504',
];

export function input(name) {
  return document.getElementById('route-' + name);
}

function val(name) {
  return input(name).value;
}

export function checked(name) {
  return input(name).checked;
}

// The Route fields the form edits. Other fields of a loaded route (ones
// a newer server added) are sent back unchanged.
export const managedFields = [
  'name', 'enabled', 'hosts', 'kind', 'tls', 'certificate', 'challenge', 'dns_credential', 'upstreams', 'upstream_host', 'load_balancing', 'upstream_tls',
  'redirect', 'static', 'headers', 'hsts', 'force_https', 'compress', 'strip_prefix', 'access', 'auth',
  'rate_limit',
  'request_log', 'request_log_size', 'locations', 'error_pages',
];

// readForm builds the Route JSON from the form. Only the section of the
// chosen kind is sent: the server refuses, say, a redirect on a proxy.
export function readForm() {
  const kind = val('kind');
  const r = {
    name: val('name').trim(),
    enabled: checked('enabled'),
    hosts: list(val('hosts')),
    kind: kind,
    tls: val('tls'),
  };
  if (r.tls === 'custom') r.certificate = val('certificate');
  if (r.tls === 'auto' && val('challenge') === 'dns') {
    r.challenge = 'dns';
    if (val('dns-credential')) r.dns_credential = val('dns-credential');
  }
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
  if (checked('request-log')) {
    r.request_log = true;
    const size = val('request-log-size').trim();
    if (size) r.request_log_size = Number(size);
  }
  const allow = list(val('access-allow'));
  const deny = list(val('access-deny'));
  if (allow.length || deny.length) {
    r.access = {};
    if (allow.length) r.access.allow = allow;
    if (deny.length) r.access.deny = deny;
  }
  const roles = list(val('auth-roles'));
  const emails = list(val('auth-emails'));
  const groups = lines(val('auth-groups'));
  const rules = parseRules(val('auth-rules')).rules;
  if (checked('auth-login') || roles.length || emails.length || groups.length || rules.length) {
    r.auth = { require_login: checked('auth-login') };
    if (roles.length) r.auth.roles = roles;
    if (emails.length) r.auth.emails = emails;
    if (groups.length) r.auth.groups = groups;
    if (rules.length) r.auth.rules = rules;
  }
  const rl = readRateLimit();
  if (rl) r.rate_limit = rl;
  const pages = {};
  for (const st of errorStatuses) {
    if (val('error-page-' + st).trim()) pages[st] = val('error-page-' + st);
  }
  if (Object.keys(pages).length) r.error_pages = pages;
  return r;
}

// ---------------------------------------------------------------- error pages

// The statuses a route may have an error page for, with their texts.
const errorStatuses = ['404', '502', '503', '504'];
const statusTexts = { 404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

function escapeHTML(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
}

// errorPagePreview fills in a page's placeholders with sample values,
// HTML-escaped as the server escapes the real ones.
export function errorPagePreview(page, status, host) {
  const values = {
    '{http.error.status_code}': status,
    '{http.error.status_text}': statusTexts[status],
    '{http.request.host}': host,
    '{http.request.uuid}': '5f0c7a4e-1b2d-4c3e-9f8a-0123456789ab',
  };
  let out = page;
  for (const [k, v] of Object.entries(values)) out = out.split(k).join(escapeHTML(v));
  return out;
}

// previewErrorPages renders each error page with sample values in its
// preview frame, which has sandbox="" (no scripts, no same origin) and
// the dashboard's CSP: a page's markup cannot act in the dashboard.
export function previewErrorPages() {
  const host = list(val('hosts'))[0] || 'app.example.com';
  for (const st of errorStatuses) {
    const page = val('error-page-' + st);
    const frame = input('error-page-' + st).closest('.field').querySelector('iframe.error-preview');
    frame.hidden = !page.trim();
    const doc = frame.hidden ? '' : errorPagePreview(page, st, host);
    if (frame.srcdoc !== doc) frame.srcdoc = doc;
  }
}

// readRateLimit returns the rate limit of the form, or null without one.
function readRateLimit() {
  const requests = val('rate-requests').trim();
  const per = val('rate-per').trim();
  if (!requests && !per) return null;
  const num = (s) => (/^\d+$/.test(s) ? Number(s) : -1);
  const rl = { requests: num(requests), per: per, key: val('rate-key') };
  if (rl.key === 'header') rl.key = 'header:' + val('rate-header').trim();
  const burst = val('rate-burst').trim();
  if (burst) rl.burst = num(burst);
  return rl;
}

// fillRateLimit shows rate limit rl (or none) in the form.
function fillRateLimit(rl) {
  rl = rl || {};
  const key = rl.key || 'client_ip';
  input('rate-requests').value = rl.requests ? String(rl.requests) : '';
  input('rate-per').value = rl.per || '';
  input('rate-key').value = key.startsWith('header:') ? 'header' : key;
  input('rate-header').value = key.startsWith('header:') ? key.slice('header:'.length) : '';
  input('rate-burst').value = rl.burst ? String(rl.burst) : '';
}

// fillForm shows route r (or the defaults of a new route) in the form.
export function fillForm(r) {
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
  input('certificate').value = r.certificate || '';
  input('challenge').value = r.challenge || '';
  const cred = input('dns-credential');
  if (r.dns_credential && ![...cred.options].some((o) => o.value === r.dns_credential)) {
    cred.append(new Option(r.dns_credential, r.dns_credential));
  }
  cred.value = r.dns_credential || '';
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
  input('request-log').checked = !!r.request_log;
  input('request-log-size').value = r.request_log_size ? String(r.request_log_size) : '';
  input('access-allow').value = (ac.allow || []).join('\n');
  input('access-deny').value = (ac.deny || []).join('\n');
  input('auth-login').checked = !!au.require_login;
  input('auth-roles').value = (au.roles || []).join(' ');
  input('auth-emails').value = (au.emails || []).join('\n');
  input('auth-groups').value = (au.groups || []).join('\n');
  input('auth-rules').value = formatRules(au.rules);
  input('req-headers').value = formatHeaders(hd.request);
  input('resp-headers').value = formatHeaders(hd.response);
  fillRateLimit(r.rate_limit);
  for (const st of errorStatuses) input('error-page-' + st).value = (r.error_pages || {})[st] || '';
}

// showSections shows the part of the form that applies to the kind.
export function showSections() {
  const kind = val('kind');
  $('#section-proxy').hidden = kind !== 'proxy';
  $('#section-redirect').hidden = kind !== 'redirect';
  $('#section-static').hidden = kind !== 'static';
  $('#field-req-headers').hidden = kind !== 'proxy';
  $('#field-certificate').hidden = val('tls') !== 'custom';
  $('#field-challenge').hidden = val('tls') !== 'auto';
  $('#field-dns-credential').hidden = val('challenge') !== 'dns';
  $('#field-rate-header').hidden = val('rate-key') !== 'header';
}

// loadDNS offers the stored DNS provider credentials and says which
// providers this Caddy has, from GET /api/dns.
export async function loadDNS(authed) {
  const res = await authed('GET', '/api/dns');
  if (res.status !== 200) return;
  const d = res.data;
  const cred = input('dns-credential');
  cred.options[0].textContent = d.default ? 'The issuer\'s provider (' + d.default + ')' : 'None: the issuer has no provider';
  for (const c of d.credentials || []) cred.append(new Option(c.name + ' (' + c.provider + ')', c.name));
  const have = (d.providers || []).join(', ') || 'none';
  $('#route-challenge-hint').textContent = 'DNS-01 gets one certificate for a wildcard host and works for hosts the internet cannot reach. ' +
    'DNS providers in this Caddy: ' + have + '. Add one with: ' + d.add_provider;
}

// showTLSStatus shows why a route has no certificate yet, with the CA's
// or the DNS provider's error.
export function showTLSStatus(r) {
  const box = $('#route-tls-status');
  const st = r && r.tls_status;
  box.hidden = !st || st.state !== 'failed';
  if (!box.hidden) box.textContent = 'No certificate for ' + st.name + ' (' + st.failures + ' failed attempts): ' + st.error;
}

// fillCertificates offers the custom certificates (of GET
// /api/certificates) for tls custom, by name and the names they cover.
export function fillCertificates(custom) {
  const sel = input('certificate');
  sel.replaceChildren(el('option', { value: '' }, custom.length ? 'Choose a certificate' : 'No certificate uploaded yet'),
    ...custom.map((c) => el('option', { value: c.id }, c.name + ' (' + (c.names || []).join(', ') + ')')));
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

export const checks = {
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
  'certificate': () => (val('tls') === 'custom' && !val('certificate') ? 'Choose a certificate, or upload one on the Certificates page.' : ''),
  'hsts': () => (checked('hsts') && val('tls') === 'off' ? 'HSTS needs TLS: choose Automatic or Internal above.' : ''),
  'force-https': () => (checked('force-https') && val('tls') === 'off' ? 'Redirecting to HTTPS needs TLS: choose Automatic or Internal above.' : ''),
  'access-allow': () => checkAddresses('access-allow'),
  'access-deny': () => checkAddresses('access-deny'),
  'auth-roles': () => {
    const roles = list(val('auth-roles'));
    for (const r of roles) {
      if (!roleNames.includes(r)) return '“' + r + '” is not a role: use admin, operator or viewer.';
    }
    if (roles.length && !asksLogin()) return 'Roles apply only with “Require a dashboard login” checked or a login rule.';
    return '';
  },
  'auth-emails': () => {
    const emails = list(val('auth-emails'));
    for (const e of emails) {
      if (!/^[^@\s]+@[^@\s]+$/.test(e)) return '“' + e + '” is not an email address.';
    }
    if (emails.length && !asksLogin()) return 'Emails apply only with “Require a dashboard login” checked or a login rule.';
    return '';
  },
  'auth-groups': () => {
    const groups = lines(val('auth-groups'));
    for (const g of groups) {
      if (g.length > 256) return 'A group name has at most 256 characters.';
    }
    if (groups.length && !asksLogin()) return 'Groups apply only with “Require a dashboard login” checked or a login rule.';
    return '';
  },
  'auth-rules': () => {
    const p = parseRules(val('auth-rules'));
    if (p.errors.length) return p.errors[0];
    for (const r of p.rules) {
      if (r.path && /(^|\/)\.\.?(\/|$)|\/\/|[?#%;\\{}]/.test(r.path)) return '“' + r.path + '”: write a plain path, without //, . or .. segments, ?, #, %, ; or braces.';
    }
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
  'rate-requests': (final) => {
    const n = val('rate-requests').trim();
    if (!n) return final && val('rate-per').trim() ? 'Enter how many requests a client may make per period.' : '';
    if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 1e9) return 'Enter a number from 1 to 1000000000.';
    return '';
  },
  'rate-per': (final) => {
    const p = val('rate-per').trim();
    if (!p) return final && val('rate-requests').trim() ? 'Enter the period, e.g. 1m.' : '';
    if (!final && /^[0-9.nuµmsh]*$/.test(p)) return '';
    if (!durationRe.test(p) || !/[1-9]/.test(p)) return 'Enter a duration such as 1s, 1m or 1h.';
    return '';
  },
  'rate-key': () => (val('rate-key') === 'user' && val('rate-requests').trim() && !asksLogin()
    ? 'Counting per user needs “Require a dashboard login” checked or a login rule.' : ''),
  'rate-header': (final) => {
    if (val('rate-key') !== 'header' || !val('rate-requests').trim()) return '';
    const h = val('rate-header').trim();
    if (!h) return final ? 'Enter the header to count by, e.g. X-Api-Key.' : '';
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h)) return '“' + h + '” is not a header name.';
    return '';
  },
  'rate-burst': () => {
    const b = val('rate-burst').trim();
    if (b && (!/^\d+$/.test(b) || Number(b) < 1 || Number(b) > 1e9)) return 'Enter a number from 1 to 1000000000, or leave it empty.';
    return '';
  },
};

// checkRequestHeaders refuses what the server refuses: Host (the
// upstream_host field sets it) and the hop-by-hop headers.
// asksLogin reports whether the route can ask for a login: required, or
// by a login rule.
function asksLogin() {
  return checked('auth-login') || parseRules(val('auth-rules')).rules.some((r) => r.action === 'login');
}

function checkRequestHeaders() {
  return requestHeaderError(val('req-headers'));
}

// requestHeaderError checks request header edits (the route's or a
// location's) as the server does, or returns ''.
export function requestHeaderError(text) {
  const p = parseHeaders(text, true);
  if (p.errors.length) return p.errors[0];
  const ops = p.ops || {};
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
export function serverFieldInput(field) {
  const f = String(field || '').replace(/\[\d+\]/g, '');
  const map = {
    'name': 'name',
    'hosts': 'hosts',
    'kind': 'kind',
    'tls': 'tls',
    'certificate': 'certificate',
    'challenge': 'challenge',
    'dns_credential': 'dns-credential',
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
    'request_log': 'request-log',
    'request_log_size': 'request-log-size',
    'access': 'access-allow',
    'access.allow': 'access-allow',
    'access.deny': 'access-deny',
    'auth': 'auth-login',
    'auth.require_login': 'auth-login',
    'auth.roles': 'auth-roles',
    'auth.emails': 'auth-emails',
    'auth.groups': 'auth-groups',
    'auth.rules': 'auth-rules',
    'headers': 'resp-headers',
    'headers.request': 'req-headers',
    'headers.response': 'resp-headers',
    'rate_limit': 'rate-requests',
    'rate_limit.requests': 'rate-requests',
    'rate_limit.per': 'rate-per',
    'rate_limit.key': 'rate-key',
    'rate_limit.burst': 'rate-burst',
    'error_pages': 'error-page-404',
    'error_pages.404': 'error-page-404',
    'error_pages.502': 'error-page-502',
    'error_pages.503': 'error-page-503',
    'error_pages.504': 'error-page-504',
  };
  // The longest known prefix wins: headers.request.set → req-headers.
  for (let k = f; k; k = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : '') {
    if (map[k]) return map[k];
  }
  return null;
}

// labelOf is the visible label of an input, for the error summary.
export function labelOf(name) {
  const label = $('label[for="route-' + name + '"]');
  return label ? label.textContent : name;
}
