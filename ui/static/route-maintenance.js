// ProxyOS dashboard: a route's maintenance switch on its page: the
// current state and schedule, on or off now (after a confirmation), and
// a schedule, through POST /api/routes/{id}/maintenance with the route's
// version. The page is user data: it only reaches the dashboard as an
// input value.

import { authed, errorMessage, NeedLogin, networkError } from './api.js';
import { $, el, fieldErrors, formatDate, show } from './dom.js';
import { confirmDialog } from './dialog.js';
import { displayName, routePath, stale } from './route.js';

// localInput turns an RFC 3339 time into a datetime-local value in the
// browser's time zone.
function localInput(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

// rfc3339 turns a datetime-local value (the browser's time zone) into
// RFC 3339, or undefined when empty.
function rfc3339(value) {
  if (!value) return undefined;
  const d = new Date(value);
  return isNaN(d) ? value : d.toISOString();
}

// stateNodes says whether the route is in maintenance and what its
// schedule will do.
function stateNodes(m) {
  const on = !!(m && m.on);
  const nodes = [el('span', { class: 'badge maintenance-badge' + (on ? ' badge-bad' : '') }, on ? 'Maintenance on' : 'Maintenance off'), ' ',
    on ? 'Every path answers the maintenance page with status 503.' : 'The route serves as usual.'];
  const at = (iso) => formatDate(new Date(iso));
  if (m && m.from && m.until) nodes.push(' Scheduled: on at ' + at(m.from) + ', off at ' + at(m.until) + '.');
  else if (m && m.from) nodes.push(' Scheduled: on at ' + at(m.from) + '.');
  else if (m && m.until) nodes.push(' Scheduled: off at ' + at(m.until) + '.');
  return nodes;
}

// wireMaintenance shows the maintenance of route r; writers may switch
// it. onChange(route, version) runs after a change, with the new route
// and the version it was made from.
export function wireMaintenance(r, writer, onChange) {
  const box = $('#route-maintenance');
  const errorBox = $('#maintenance-error');
  const notice = $('#maintenance-notice');
  const toggle = $('#maintenance-toggle');
  const scheduleBtn = $('#maintenance-schedule');
  const errs = fieldErrors({
    'page': '#maintenance-page', 'maintenance.page': '#maintenance-page',
    'from': '#maintenance-from', 'maintenance.from': '#maintenance-from',
    'until': '#maintenance-until', 'maintenance.until': '#maintenance-until',
  });
  let cur = r;
  box.hidden = false;

  function render() {
    const m = cur.maintenance || {};
    $('#maintenance-state').replaceChildren(...stateNodes(m));
    $('#maintenance-page').value = m.page || '';
    $('#maintenance-from').value = m.from ? localInput(m.from) : '';
    $('#maintenance-until').value = m.until ? localInput(m.until) : '';
    toggle.textContent = m.on ? 'Switch maintenance off' : 'Switch maintenance on';
    toggle.className = 'btn ' + (m.on ? 'btn-primary' : 'btn-danger');
  }

  async function reload() {
    const res = await authed('GET', routePath(cur.id));
    if (res.status === 200) cur = res.data;
    render();
  }

  async function send(on, what) {
    show(errorBox, '');
    show(notice, '');
    errs.clear();
    const body = { on: on, page: $('#maintenance-page').value, version: cur.version };
    const from = rfc3339($('#maintenance-from').value);
    const until = rfc3339($('#maintenance-until').value);
    if (from) body.from = from;
    if (until) body.until = until;
    const base = cur.version;
    toggle.disabled = scheduleBtn.disabled = true;
    let res;
    try {
      res = await authed('POST', routePath(cur.id) + '/maintenance', body);
    } catch (err) {
      if (err instanceof NeedLogin) return;
      show(errorBox, networkError(err));
      return;
    } finally {
      toggle.disabled = scheduleBtn.disabled = false;
    }
    if (res.status === 200) {
      cur = res.data;
      render();
      show(notice, what + ' The route is now version ' + cur.version + '.');
      onChange(cur, base);
      return;
    }
    if (stale(res)) {
      await reload();
      show(errorBox, 'This route was changed by someone else meanwhile; it is reloaded above (version ' + cur.version + '). Check its state and try again.');
      errorBox.focus();
      return;
    }
    const field = errs.mark(res);
    show(errorBox, errorMessage(res));
    (field || errorBox).focus();
  }

  toggle.addEventListener('click', async () => {
    const on = !(cur.maintenance && cur.maintenance.on);
    const name = displayName(cur);
    const ok = await confirmDialog(on ? 'Switch maintenance on?' : 'Switch maintenance off?',
      on ? 'Every path of ' + name + ' will answer the maintenance page with status 503 until you switch it off. Its settings stay as they are.'
        : name + ' will serve its upstreams and paths again.',
      on ? 'Switch on' : 'Switch off');
    if (ok) await send(on, on ? 'Maintenance is on.' : 'Maintenance is off.');
  });
  scheduleBtn.addEventListener('click', () => send(!!(cur.maintenance && cur.maintenance.on), 'Schedule saved.'));

  render();
  if (!writer) {
    $('#maintenance-fields').disabled = true;
    toggle.hidden = scheduleBtn.hidden = true;
  }
}
