// ProxyOS dashboard: the audit log page (admins), newest first, with
// filters and paging.
//
// Actors, targets and details are user data: they reach the page only
// through textContent, never as HTML.

import { authed, errorMessage, NeedLogin, networkError } from './api.js';
import { $, el, formatDate, rendered, show, template } from './dom.js';
import { sessionOrLogin, shell } from './shell.js';

// actions are the audited actions the filter offers.
const actions = [
  'setup', 'login', 'logout',
  'user.create', 'user.update', 'user.delete', 'account.password_change',
  'totp.enable', 'totp.disable', 'passkey.register', 'passkey.remove',
  'session.revoke', 'session.revoke_all',
  'key.create', 'key.revoke',
  'route.create', 'route.update', 'route.rollback', 'route.delete',
];

// localToRFC3339 turns a datetime-local value into an RFC 3339 time.
function localToRFC3339(v) {
  if (!v) return '';
  const d = new Date(v);
  return isNaN(d) ? '' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// detailsNode shows an entry's before/after diff and extra facts as
// indented JSON inside a <details> element.
function detailsNode(e) {
  if (!e.details || !Object.keys(e.details).length) return el('span', { class: 'muted' }, '—');
  const d = el('details', { class: 'audit-details' });
  d.append(el('summary', null, 'Show'));
  d.append(el('pre', { class: 'audit-json' }, JSON.stringify(e.details, null, 2)));
  return d;
}

function outcomeNode(e) {
  const ok = e.outcome === 'success';
  const badge = el('span', { class: 'badge ' + (ok ? 'badge-good' : 'badge-bad') }, ok ? 'OK' : 'Failed');
  if (ok || !e.reason) return badge;
  return el('span', null, badge, ' ', el('span', { class: 'small muted' }, e.reason.replace(/_/g, ' ')));
}

function row(e) {
  const at = new Date(e.at);
  const time = el('time', { datetime: e.at, title: e.at }, isNaN(at) ? String(e.at) : formatDate(at));
  const actor = el('span', null, e.actor || '');
  if (e.actor_kind && e.actor_kind !== 'user') {
    actor.append(' ', el('span', { class: 'badge' }, e.actor_kind.replace(/_/g, ' ')));
  }
  return el('tr', { 'data-id': String(e.id) },
    el('td', null, time),
    el('td', null, actor),
    el('td', null, el('code', null, e.action || '')),
    el('td', { class: 'audit-target' }, e.target || ''),
    el('td', null, e.client_ip || ''),
    el('td', null, outcomeNode(e)),
    el('td', null, detailsNode(e)));
}

export default async function auditPage(page) {
  const s = await sessionOrLogin();
  const content = await shell(s);
  content.append(template(page.template));
  const root = $('#audit');

  if (s.user.role !== 'admin') {
    $('#audit-log', root).remove();
    $('#audit-admins-only', root).hidden = false;
    rendered('audit', 'Audit log');
    return;
  }

  const form = $('#audit-filters', root);
  const actor = $('#audit-actor', root);
  const action = $('#audit-action', root);
  const target = $('#audit-target', root);
  const since = $('#audit-since', root);
  const until = $('#audit-until', root);
  const errorBox = $('#audit-error', root);
  const empty = $('#audit-empty', root);
  const table = $('#audit-list', root);
  const tbody = $('#audit-table tbody', root);
  const more = $('#audit-more', root);
  action.append(...actions.map((a) => el('option', { value: a }, a)));

  let next = null;

  function query() {
    const q = new URLSearchParams();
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    if (action.value) q.set('action', action.value);
    if (target.value.trim()) q.set('target', target.value.trim());
    if (localToRFC3339(since.value)) q.set('since', localToRFC3339(since.value));
    if (localToRFC3339(until.value)) q.set('until', localToRFC3339(until.value));
    return q;
  }

  async function load(append) {
    const q = query();
    if (append && next !== null) q.set('before', String(next));
    show(errorBox, '');
    more.disabled = true;
    let res;
    try {
      res = await authed('GET', '/api/audit?' + q.toString());
    } catch (err) {
      if (err instanceof NeedLogin) throw err;
      show(errorBox, networkError(err));
      more.disabled = false;
      return;
    }
    more.disabled = false;
    if (res.status !== 200) {
      show(errorBox, errorMessage(res));
      return;
    }
    const entries = Array.isArray(res.data.entries) ? res.data.entries : [];
    if (!append) tbody.replaceChildren();
    for (const e of entries) tbody.append(row(e));
    next = res.data.next_before === null || res.data.next_before === undefined ? null : res.data.next_before;
    more.hidden = next === null;
    const any = tbody.children.length > 0;
    table.hidden = !any;
    empty.hidden = any;
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    next = null;
    load(false).catch(() => {});
  });
  form.addEventListener('reset', () => {
    setTimeout(() => {
      next = null;
      load(false).catch(() => {});
    }, 0);
  });
  more.addEventListener('click', () => { load(true).catch(() => {}); });

  await load(false);
  rendered('audit', 'Audit log');
}
