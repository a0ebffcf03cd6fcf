// ProxyOS dashboard: the page list. pages.json is the one list of the
// dashboard's pages: each page's path, its <template> in index.html, the
// module that renders it and its menu entry. The server reads the same
// file (ui.Pages in Go) to know which paths serve index.html.

import { NetworkError } from './api.js';

let loading = null;

// loadPages resolves to the page list, fetched once per page load.
export function loadPages() {
  if (!loading) {
    loading = fetch('/assets/pages.json', { credentials: 'same-origin' }).then(
      (res) => {
        if (!res.ok) throw new Error('Could not load the page list (HTTP ' + res.status + ').');
        return res.json();
      },
      (err) => {
        throw new NetworkError(err && err.message ? err.message : 'network error');
      });
    loading.catch(() => { loading = null; });
  }
  return loading;
}
