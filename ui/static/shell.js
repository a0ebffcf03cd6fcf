// ProxyOS dashboard: the frame of the logged-in pages (menu, current user,
// log out) and the session they are rendered for.

import { api, authed, errorMessage, networkError } from './api.js';
import { $, el, mount, show, template } from './dom.js';
import { loadPages } from './pages.js';

// sessionOrLogin fetches the session; a 401 goes to login.
export async function sessionOrLogin() {
  const res = await authed('GET', '/api/auth/session');
  if (res.status !== 200) throw new Error(errorMessage(res));
  return res.data;
}

// navCurrent says whether the menu item href is the current page or one
// of its sub-pages (/routes for /routes/edit).
function navCurrent(href) {
  const p = location.pathname;
  return href === p || (href !== '/' && p.startsWith(href + '/'));
}

// shell renders the logged-in frame for session s and resolves to
// main#content. The menu lists the pages of pages.json that have a nav
// entry, in its order; nav.roles limits an entry to those roles.
export async function shell(s) {
  const pages = await loadPages();
  mount(template('shell'));
  const list = $('#nav .nav-list');
  for (const p of pages) {
    const item = p.nav;
    if (!item || (item.roles && !item.roles.includes(s.user.role))) continue;
    const a = el('a', { href: p.path }, item.label);
    if (navCurrent(p.path)) a.setAttribute('aria-current', 'page');
    list.append(el('li', null, a));
  }
  show($('#current-user'), s.user.email);
  $('#current-user').title = s.user.email;
  show($('#current-role'), s.user.role);
  $('#current-role').classList.add('role-' + s.user.role);

  const logout = $('#logout');
  logout.addEventListener('click', async () => {
    logout.disabled = true;
    try {
      const res = await api('POST', '/api/auth/logout', {});
      if (res.status === 204 || res.status === 401) {
        location.assign('/login');
        return;
      }
      show($('#shell-error'), 'Logging out failed: ' + errorMessage(res));
    } catch (err) {
      show($('#shell-error'), 'Logging out failed: ' + networkError(err));
    }
    logout.disabled = false;
  });

  // When the tab comes back into view, ask the server again, so a session
  // ended elsewhere (logout in another tab, revocation) shows at once.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      authed('GET', '/api/auth/session').catch(() => {});
    }
  });
  return $('#content');
}

// passwordless reports whether the signed-in account has no password (a
// sign-in with an OpenID provider made it) and, if so, explains in box
// that actions needing a password are confirmed by a sign-in within the
// last 5 minutes, with a link per provider to sign in again and come back
// to back. account is GET /api/account's answer.
export function passwordless(account, box, back) {
  const u = (account && account.user) || {};
  if (u.has_password !== false) return false;
  const providers = Array.isArray(u.providers) ? u.providers : [];
  const links = providers.map((p) => el('a', { class: 'btn btn-small', 'data-provider': p,
    href: '/api/auth/oidc/' + encodeURIComponent(p) + '?return=' + encodeURIComponent(back) }, 'Sign in again with ' + p));
  box.replaceChildren('Your account has no password: what would ask for it here is confirmed by a sign-in within the last 5 minutes' +
    (links.length ? '. ' : ' (sign out and in again).'), ...links);
  box.hidden = false;
  return true;
}
