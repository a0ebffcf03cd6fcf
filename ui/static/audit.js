// ProxyOS dashboard: the audit log page (admins). Loaded after app.js,
// whose helpers it uses through window.ProxyOS.
//
// Actors, targets and details are user data: they reach the page only
// through textContent, never as HTML.
'use strict';

(function () {
  const P = window.ProxyOS;
  const { $, el, authed, show, errorMessage } = P;

  // actions are the audited actions the filter offers.
  const actions = [
    'setup', 'login', 'logout',
    'user.create', 'user.update', 'user.delete', 'account.password_change',
    'totp.enable', 'totp.disable',
    'session.revoke', 'session.revoke_all',
    'key.create', 'key.revoke',
    'route.create', 'route.update', 'route.rollback', 'route.delete',
  ];

  // field is a labelled input of the filter form.
  function field(id, label, input) {
    input.id = id;
    return el('div', { class: 'field' }, el('label', { for: id }, label), input);
  }

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
    const time = el('time', { datetime: e.at, title: e.at }, isNaN(at) ? String(e.at) : P.formatDate(at));
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

  async function auditPage() {
    const s = await P.sessionOrLogin();
    const content = P.shell(s);
    const root = el('section', { id: 'audit', class: 'stack' });
    root.append(el('div', { class: 'page-head' }, el('h1', null, 'Audit log')));
    content.append(root);

    if (s.user.role !== 'admin') {
      root.append(el('p', { class: 'notice notice-error', role: 'alert' }, 'Only admins can read the audit log.'));
      P.done('audit', 'Audit log');
      return;
    }

    const actor = el('input', { type: 'text', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', placeholder: 'alice@example.com or admin API' });
    const action = el('select', null, el('option', { value: '' }, 'Any action'), ...actions.map((a) => el('option', { value: a }, a)));
    const target = el('input', { type: 'text', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', placeholder: 'email or route id' });
    const since = el('input', { type: 'datetime-local' });
    const until = el('input', { type: 'datetime-local' });
    const form = el('form', { id: 'audit-filters', class: 'card', novalidate: true },
      el('div', { class: 'field-grid field-grid-3' },
        field('audit-actor', 'Actor', actor),
        field('audit-action', 'Action', action),
        field('audit-target', 'Target', target),
        field('audit-since', 'From', since),
        field('audit-until', 'Until', until)),
      el('div', { class: 'form-actions' },
        el('button', { type: 'submit', class: 'btn btn-primary' }, 'Filter'),
        el('button', { type: 'reset', class: 'btn' }, 'Clear')));
    const errorBox = el('div', { id: 'audit-error', class: 'notice notice-error', role: 'alert', hidden: true });
    const empty = el('p', { id: 'audit-empty', class: 'card empty muted', hidden: true }, 'No entries match.');
    const tbody = el('tbody');
    const table = el('div', { id: 'audit-list', class: 'card card-flush table-wrap', hidden: true },
      el('table', { id: 'audit-table' },
        el('caption', { class: 'visually-hidden' }, 'Audit log, newest first'),
        el('thead', null, el('tr', null, ...['Time', 'Actor', 'Action', 'Target', 'IP', 'Outcome', 'Details'].map((h) => el('th', { scope: 'col' }, h)))),
        tbody));
    const more = el('button', { id: 'audit-more', type: 'button', class: 'btn', hidden: true }, 'Load more');
    root.append(form, errorBox, empty, table, el('p', null, more));

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
        if (err instanceof P.NeedLogin) throw err;
        show(errorBox, P.networkError(err));
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
    P.done('audit', 'Audit log');
  }

  P.register('/audit', auditPage);
})();
