// ProxyOS dashboard: the routes list, with search, enable/disable and
// delete.
//
// Route names, hosts and upstreams are user data: they only ever reach
// the page through textContent and attribute values, never as HTML.

import { authed, errorMessage, NeedLogin, networkError } from './api.js';
import { confirmDialog } from './dialog.js';
import { $, el, messages, rendered, show, template } from './dom.js';
import { canWrite, displayName, routePath, stale, statusNodes, targetNodes, tlsLabels } from './route.js';
import { sessionOrLogin, shell } from './shell.js';

// searchText is what the search box matches against.
function searchText(r) {
  return [r.name, ...(r.hosts || []), ...(r.upstreams || []), r.redirect && r.redirect.to]
    .filter(Boolean).join('\n').toLowerCase();
}

export default async function routesPage(page) {
  const s = await sessionOrLogin();
  const res = await authed('GET', '/api/routes');
  if (res.status !== 200) throw new Error(errorMessage(res));
  let routes = Array.isArray(res.data.routes) ? res.data.routes : [];
  const writer = canWrite(s);

  const content = await shell(s);
  content.append(template(page.template));
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

  const { fail } = messages(notice, errorBox);

  async function toggleRoute(r, btn) {
    show(errorBox, '');
    btn.disabled = true;
    const body = Object.assign({}, r, { enabled: !r.enabled });
    delete body.status;
    let res;
    try {
      res = await authed('PUT', routePath(r.id), body);
    } catch (err) {
      if (err instanceof NeedLogin) return;
      btn.disabled = false;
      fail(networkError(err));
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
      if (err instanceof NeedLogin) return;
      btn.disabled = false;
      fail(networkError(err));
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
  rendered('routes', 'Routes');
}
