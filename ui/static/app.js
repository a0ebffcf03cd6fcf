// ProxyOS dashboard: the entry module, the only script index.html loads.
// It looks the current path up in the page list (pages.json, which the
// server reads too), imports that page's module and renders it.
//
// Every script is an ES module; nothing is shared through globals. Under
// the strict CSP there is no inline script and no eval.

import { api, errorMessage, NeedLogin, NetworkError, networkError } from './api.js';
import { $, mount, rendered, template } from './dom.js';
import { loadPages } from './pages.js';

// errorPage replaces the page with the error message and a retry button.
function errorPage(msg) {
  mount(template('error'));
  $('.error-message').textContent = msg;
  $('.error-retry').addEventListener('click', () => location.reload());
  rendered('error', 'Error');
}

// start sends a fresh instance to setup (and a set-up one away from it),
// then renders the page of the current path; the server serves
// index.html only for the paths in the page list.
async function start() {
  const path = location.pathname;
  try {
    const [status, pages] = await Promise.all([api('GET', '/api/setup/status'), loadPages()]);
    if (status.status !== 200) throw new Error(errorMessage(status));
    const required = !!status.data.setup_required;
    if (required && path !== '/setup') {
      location.replace('/setup');
      return;
    }
    if (!required && path === '/setup') {
      location.replace('/login');
      return;
    }
    const page = pages.find((p) => p.path === path) || pages.find((p) => p.path === '/');
    const module = await import('./' + page.script);
    await module.default(page);
  } catch (err) {
    if (err instanceof NeedLogin) return;
    errorPage(err instanceof NetworkError ? networkError(err) : err.message || String(err));
  }
}

// A page restored from the back/forward cache may show a session that has
// ended since: load it again so the server decides.
window.addEventListener('pageshow', (ev) => {
  if (ev.persisted) location.reload();
});

start();
