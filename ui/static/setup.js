// ProxyOS dashboard: the setup page, which creates the first admin with
// the one-time setup code from Caddy's log.

import { api, errorMessage, networkError } from './api.js';
import { $, busy, capitalize, el, errorBoxOf, mount, rendered, show, stripField, template, wirePasswordReveal } from './dom.js';

export default async function setupPage(page) {
  mount(template(page.template));
  const form = $('#setup-form');
  const summary = $('#setup-error');
  const fields = { email: '#setup-email', password: '#setup-password', setup_code: '#setup-code' };
  wirePasswordReveal(form);

  function clearErrors() {
    show(summary, '');
    for (const sel of Object.values(fields)) {
      const input = $(sel);
      input.removeAttribute('aria-invalid');
      show(errorBoxOf(input), '');
    }
  }

  function fieldError(name, msg) {
    const sel = fields[name];
    if (!sel) return null;
    const input = $(sel);
    input.setAttribute('aria-invalid', 'true');
    show(errorBoxOf(input), msg);
    return input;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    const body = {
      email: $('#setup-email').value.trim(),
      password: $('#setup-password').value,
      setup_code: $('#setup-code').value.trim(),
    };
    busy(form, true, 'Creating…');
    let res;
    try {
      res = await api('POST', '/api/setup', body);
    } catch (err) {
      busy(form, false);
      show(summary, networkError(err));
      summary.focus();
      return;
    }
    if (res.status === 201 || res.status === 200) {
      location.assign(res.data.redirect || '/');
      return;
    }
    busy(form, false);
    if (res.status === 409) {
      summary.replaceChildren(
        'Setup is already complete: an admin exists. ',
        el('a', { href: '/login' }, 'Log in instead'),
        '.'
      );
      summary.hidden = false;
      summary.focus();
      return;
    }
    const msg = errorMessage(res);
    const d = res.data;
    const input = d.field ? fieldError(d.field, capitalize(stripField(d.error || '', d.field))) : null;
    const label = input ? $('label[for="' + input.id + '"]').textContent + ': ' : '';
    show(summary, input ? label + msg : msg);
    if (input) input.focus();
    else summary.focus();
  });

  $('#setup-email').focus();
  rendered('setup', 'Set up');
}
