// ProxyOS dashboard: the overview page, the first page after logging in.

import { api, errorMessage } from './api.js';
import { $, $$, el, formatDate, relativeTime, rendered, template, timeEl } from './dom.js';
import { sessionOrLogin, shell } from './shell.js';

export default async function overviewPage(page) {
  const s = await sessionOrLogin();
  const content = await shell(s);
  const view = template(page.template);
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
  await showStatus();
  rendered('overview', 'Overview');
}

// showCertificates lists the certificates that expire within 14 days or
// whose last issuance attempt failed, as the overview picked them, if any.
function showCertificates(list) {
  const attention = (Array.isArray(list) ? list : []).map((c) => {
    if (c.certificate_id) {
      return el('li', { 'data-certificate-id': c.certificate_id }, 'Custom certificate ', el('strong', null, c.name), ': expires ', timeEl(c.not_after));
    }
    if (c.state === 'failing') {
      return el('li', { 'data-name': c.name }, el('strong', null, c.name), ': the last attempt failed: ',
        el('span', { class: 'cert-error-inline' }, c.error || ''));
    }
    return el('li', { 'data-name': c.name }, el('strong', null, c.name), ': expires ', timeEl(c.not_after));
  });
  $('#ov-certs-list').replaceChildren(...attention);
  $('#ov-certs').hidden = attention.length === 0;
}

// showStatus shows what needs attention: routes by state, upstreams held
// down, certificates, failed logins, changes since this browser's
// midnight and, for admins, the doctor's findings.
async function showStatus() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  let res;
  try {
    res = await api('GET', '/api/overview?day_start=' + encodeURIComponent(midnight.toISOString().replace(/\.\d{3}Z$/, 'Z')));
  } catch {
    $('#ov-status-error').textContent = 'Could not load the status.';
    $('#ov-status-error').hidden = false;
    return;
  }
  if (res.status !== 200) {
    $('#ov-status-error').textContent = 'Could not load the status: ' + errorMessage(res);
    $('#ov-status-error').hidden = false;
    return;
  }
  const d = res.data;
  $('#ov-routes-live').textContent = String(d.routes.live);
  $('#ov-routes-maintenance').textContent = String(d.routes.maintenance);
  $('#ov-routes-not-live').textContent = String(d.routes.not_live);
  $('#ov-routes-disabled').textContent = String(d.routes.disabled);
  $('#ov-failed-logins').textContent = String(d.failed_logins_24h);
  $('#ov-changes').textContent = String(d.changes_today);
  $('#ov-routes-not-live').classList.toggle('attention', d.routes.not_live > 0);
  $('#ov-failed-logins').classList.toggle('attention', d.failed_logins_24h > 0);

  const down = Array.isArray(d.unhealthy_upstreams) ? d.unhealthy_upstreams : [];
  $('#ov-unhealthy-list').replaceChildren(...down.map((u) => el('li', { 'data-route-id': u.route_id },
    el('strong', null, String(u.address)), ' of ',
    el('a', { href: '/routes/edit?id=' + encodeURIComponent(u.route_id) }, u.route_name || 'route ' + u.route_id))));
  $('#ov-unhealthy').hidden = down.length === 0;

  showCertificates(d.certificates);

  const findings = Array.isArray(d.doctor) ? d.doctor : [];
  $('#ov-doctor-list').replaceChildren(...findings.map((f) => el('li', { 'data-finding': f.id, class: 'finding-' + f.severity },
    el('strong', null, String(f.severity)), ': ', String(f.saw || ''), f.fix ? el('div', { class: 'small' }, String(f.fix)) : null)));
  $('#ov-doctor').hidden = findings.length === 0;
}
