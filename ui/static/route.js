// ProxyOS dashboard: how a route is shown, shared by the routes list
// (routes.js) and the route editor (route-edit.js).
//
// Route names, hosts, upstreams and the rest are user data: they only
// ever reach the page through textContent and attribute values, never as
// HTML.

import { el } from './dom.js';

// canWrite says whether a role may change routes; the server decides
// (403), this only keeps viewers from seeing buttons they cannot use.
export function canWrite(s) {
  return s.user.role === 'admin' || s.user.role === 'operator';
}

// routePath is the API path of route id.
export function routePath(id) {
  return '/api/routes/' + encodeURIComponent(id);
}

// stale says whether an answer is the 409 for a version that changed
// meanwhile (a host taken by another route is a 409 naming "hosts").
export function stale(res) {
  return res.status === 409 && (!res.data.field || res.data.field === 'version');
}

export const kindLabels = { proxy: 'Proxy', redirect: 'Redirect', static: 'Static' };
export const tlsLabels = { auto: 'Auto (ACME)', internal: 'Internal CA', custom: 'Custom', off: 'Off (HTTP)' };

// displayName is a route's name, or its first host when it has none.
export function displayName(r) {
  return r.name || (r.hosts && r.hosts[0]) || 'Unnamed route';
}

// statusNodes shows whether a route is enabled and live, and the health
// of its upstreams as the server last saw it.
export function statusNodes(r) {
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
  if (r.maintenance && r.maintenance.on) {
    badges.append(el('span', { class: 'badge badge-bad route-maintenance', title: 'Every path answers the maintenance page' }, 'Maintenance'));
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
export function targetNodes(r) {
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

