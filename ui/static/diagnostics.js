// ProxyOS dashboard: the diagnostics page, which shows what the server
// sees of this browser's session, and to admins the server-side findings
// of the doctor (GET /api/doctor). It works without a login: it is needed
// exactly when logging in fails.

import { api, errorMessage, networkError } from './api.js';
import { $, el, mount, rendered, template } from './dom.js';
import { shell } from './shell.js';

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

// severityBadges maps a finding's severity to its badge.
const severityBadges = {
  problem: { cls: 'badge badge-bad', text: 'Problem' },
  warning: { cls: 'badge badge-warn', text: 'Warning' },
  ok: { cls: 'badge badge-good', text: 'OK' },
};

// findingItem renders one finding of the doctor: what it saw, and for a
// warning or problem why it matters and the fix.
function findingItem(f) {
  const badge = severityBadges[f.severity] || severityBadges.ok;
  const li = el('li', { class: 'finding finding-' + f.severity, 'data-id': f.id },
    el('span', { class: badge.cls }, badge.text), ' ',
    el('code', null, f.id),
    el('p', null, f.saw));
  if (f.severity !== 'ok') {
    li.append(el('p', { class: 'muted' }, 'Why: ' + f.why), el('p', null, el('strong', null, 'Fix: '), f.fix));
  }
  return li;
}

// renderDoctor shows the server-side findings of the doctor: problems
// and warnings first, the passed checks folded away.
function renderDoctor(root, rep) {
  const bad = rep.findings.filter((f) => f.severity !== 'ok');
  const good = rep.findings.filter((f) => f.severity === 'ok');
  const problems = bad.filter((f) => f.severity === 'problem').length;
  const summary = $('#doctor-summary', root);
  summary.textContent = bad.length === 0
    ? 'All ' + good.length + ' server checks passed.'
    : problems + ' problems and ' + (bad.length - problems) + ' warnings: each says what it saw, why it matters and the fix.';
  summary.classList.toggle('fix-ok', bad.length === 0);
  $('#doctor-findings', root).replaceChildren(...bad.map(findingItem));
  const passed = $('#doctor-passed', root);
  $('summary', passed).textContent = good.length + ' checks passed';
  $('ul', passed).replaceChildren(...good.map(findingItem));
}

// loadDoctor fetches and shows the doctor's findings, for admins.
async function loadDoctor(root) {
  const section = $('#doctor', root);
  try {
    const res = await api('GET', '/api/doctor');
    if (res.status !== 200) throw new Error(errorMessage(res));
    renderDoctor(section, res.data);
  } catch (err) {
    $('#doctor-summary', section).textContent = err instanceof TypeError ? networkError(err) : err.message;
  }
  section.hidden = false;
}

export default async function diagnosticsPage(page) {
  const [sessionRes, diagRes] = await Promise.all([
    api('GET', '/api/auth/session'),
    api('GET', '/api/auth/diagnose'),
  ]);
  let content;
  if (sessionRes.status === 200) {
    content = await shell(sessionRes.data);
  } else {
    mount(template('public'));
    content = $('#content');
    $('#public-login').href = '/login?return=' + encodeURIComponent('/diagnostics');
  }
  content.append(template(page.template));
  const root = $('#diagnostics');
  $('#diagnose-login', root).hidden = sessionRes.status === 200;
  $('.diag-origin', root).textContent = location.origin;

  if (diagRes.status !== 200) throw new Error(errorMessage(diagRes));
  let report = diagRes.data;
  renderDiagnosis(root, report);
  const isAdmin = sessionRes.status === 200 && sessionRes.data.user.role === 'admin';
  if (isAdmin) await loadDoctor(root);

  const refresh = $('#diagnose-refresh', root);
  refresh.addEventListener('click', async () => {
    refresh.disabled = true;
    try {
      if (isAdmin) await loadDoctor(root);
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
  rendered('diagnostics', 'Diagnostics');
}
