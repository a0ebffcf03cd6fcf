// ProxyOS dashboard: the overview page, the first page after logging in.

import { api } from './api.js';
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
  await showCertificates();
  rendered('overview', 'Overview');
}

// showCertificates lists the certificates that expire within 14 days or
// whose last issuance attempt failed, if any. The overview works without
// them: a failed request leaves the card hidden.
async function showCertificates() {
  let res;
  try {
    res = await api('GET', '/api/certificates');
  } catch {
    return;
  }
  if (res.status !== 200) return;
  const attention = [];
  for (const e of Array.isArray(res.data.served) ? res.data.served : []) {
    if (e.failing) {
      attention.push(el('li', { 'data-name': e.name }, el('strong', null, e.name), ': the last attempt failed: ',
        el('span', { class: 'cert-error-inline' }, e.last_attempt ? e.last_attempt.error : '')));
    } else if (e.expires_soon && e.certificate) {
      attention.push(el('li', { 'data-name': e.name }, el('strong', null, e.name), ': expires ', timeEl(e.certificate.not_after)));
    }
  }
  for (const c of Array.isArray(res.data.custom) ? res.data.custom : []) {
    if (c.expires_soon) {
      attention.push(el('li', { 'data-certificate-id': c.id }, 'Custom certificate ', el('strong', null, c.name), ': expires ', timeEl(c.not_after)));
    }
  }
  $('#ov-certs-list').replaceChildren(...attention);
  $('#ov-certs').hidden = attention.length === 0;
}
