// ProxyOS dashboard: the overview page, the first page after logging in.

import { $, $$, formatDate, relativeTime, rendered, template } from './dom.js';
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
  rendered('overview', 'Overview');
}
