// ProxyOS dashboard: talking to the dashboard's JSON API.
//
// The server is the only source of truth for "logged in": nothing here
// keeps a flag of its own (nothing in localStorage, sessionStorage or
// cookies). Any 401 from the API on a logged-in page sends the browser to
// the login page with the reason the server gave.

import { capitalize, show, stripField } from './dom.js';

// NetworkError is thrown when the server cannot be reached at all.
export class NetworkError extends Error {}

// NeedLogin is thrown by logged-in pages after a 401 has sent the browser
// to the login page, so the page stops rendering.
export class NeedLogin extends Error {}

// api calls the dashboard's JSON API and resolves to {status, data,
// headers}. It never rejects for an HTTP error status, only for a network
// failure.
export async function api(method, path, body) {
  const init = {
    method: method,
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { Accept: 'application/json' },
  };
  if (method !== 'GET' && method !== 'HEAD') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body || {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new NetworkError(err && err.message ? err.message : 'network error');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = null;
    }
  }
  return { status: res.status, data: data || {}, headers: res.headers };
}

// toLogin sends the browser to the login page with the server's reason
// and the current page to come back to.
export function toLogin(reason) {
  const q = new URLSearchParams();
  if (reason) q.set('reason', reason);
  q.set('return', location.pathname + location.search);
  location.assign('/login?' + q.toString());
}

// authed calls the API from a logged-in page: a 401 goes to login.
export async function authed(method, path, body) {
  const res = await api(method, path, body);
  if (res.status === 401) {
    toLogin(res.data.reason || '');
    throw new NeedLogin();
  }
  return res;
}

// sendFrom calls the API from a control, showing failures in box. It
// resolves to the response, or null after a network error or a 401
// (which has sent the browser to the login page).
export async function sendFrom(box, method, path, body) {
  try {
    return await authed(method, path, body);
  } catch (err) {
    if (err instanceof NeedLogin) return null;
    show(box, networkError(err));
    box.focus();
    return null;
  }
}

// errorMessage turns an API error into a sentence.
export function errorMessage(res) {
  const d = res.data || {};
  if (res.status === 429) {
    const secs = retryAfter(res);
    const mins = Math.round(Number(secs) / 60);
    return secs
      ? 'Too many failed attempts. Try again in ' + secs + ' second' + (secs === '1' ? '' : 's') +
        (mins >= 2 ? ' (about ' + mins + ' minutes).' : '.')
      : 'Too many failed attempts. Try again later.';
  }
  if (d.error) return capitalize(stripField(d.error, d.field)) + '.';
  if (res.status >= 500) return 'The server had a problem (HTTP ' + res.status + '). Check Caddy\'s log.';
  return 'Unexpected answer from the server (HTTP ' + res.status + ').';
}

function retryAfter(res) {
  const v = res.headers.get('Retry-After');
  return v && /^\d+$/.test(v.trim()) ? v.trim() : '';
}

// networkError says that the server could not be reached.
export function networkError(err) {
  return 'Could not reach the server (' + (err && err.message ? err.message : 'network error') + ').';
}
