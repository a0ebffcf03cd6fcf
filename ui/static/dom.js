// ProxyOS dashboard: DOM helpers shared by the pages. Under the strict
// CSP there is no inline script, no eval and no style attribute in markup;
// text always goes in through textContent, never as HTML.

export const $ = (sel, root) => (root || document).querySelector(sel);
export const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

// el builds an element; text is set with textContent, never as HTML.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// template returns a copy of the content of <template id="tpl-name">.
export function template(name) {
  return document.getElementById('tpl-' + name).content.cloneNode(true);
}

// mount replaces the whole page with nodes.
export function mount(nodes) {
  const app = document.getElementById('app');
  app.replaceChildren(nodes);
  return app;
}

// rendered marks the page as rendered: its name in body[data-page]
// (the browser tests wait for it) and its title.
export function rendered(page, title) {
  document.title = title + ' · ProxyOS';
  document.body.dataset.page = page;
}

// show sets a message box's text and hides it when there is none.
export function show(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

// messages returns a page's two message boxes as functions: fail shows
// an error (and moves the focus to it), done a notice; each hides the
// other box.
export function messages(notice, errorBox) {
  return {
    fail(msg) {
      show(notice, '');
      show(errorBox, msg);
      errorBox.focus();
    },
    done(msg) {
      show(errorBox, '');
      show(notice, msg);
    },
  };
}

// errorBoxOf returns the error message element of a form field: the
// .field-error element its aria-describedby names, or null.
export function errorBoxOf(field) {
  for (const id of (field.getAttribute('aria-describedby') || '').split(/\s+/)) {
    const box = id ? document.getElementById(id) : null;
    if (box && box.classList.contains('field-error')) return box;
  }
  return null;
}

// fieldErrors shows API errors next to their fields: fields maps the
// API's field names to the fields' selectors; an entry of a list
// (upstreams[0]) shows at the list's field. mark returns the control to
// focus (the first input of a fieldset), or null when the error names no
// field of the form.
export function fieldErrors(fields) {
  return {
    clear() {
      for (const sel of Object.values(fields)) {
        const field = $(sel);
        field.removeAttribute('aria-invalid');
        show(errorBoxOf(field), '');
      }
    },
    mark(res) {
      const d = res.data || {};
      const sel = fields[d.field] || fields[String(d.field || '').replace(/\[\d+\]$/, '')];
      if (!sel) return null;
      const field = $(sel);
      field.setAttribute('aria-invalid', 'true');
      show(errorBoxOf(field), capitalize(stripField(d.error || '', d.field)) + '.');
      return field.tagName === 'FIELDSET' ? $('input', field) || field : field;
    },
  };
}

// stripField turns "password: must be at least 8 characters" into
// "must be at least 8 characters".
export function stripField(msg, field) {
  if (field && msg.startsWith(field + ': ')) return msg.slice(field.length + 2);
  return msg;
}

export function capitalize(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

// wirePasswordReveal makes the Show/Hide buttons next to password fields work.
export function wirePasswordReveal(root) {
  for (const btn of $$('button[data-reveal]', root)) {
    const input = document.getElementById(btn.dataset.reveal);
    btn.setAttribute('aria-controls', input.id);
    btn.setAttribute('aria-label', 'Show password');
    btn.addEventListener('click', () => {
      const reveal = input.type === 'password';
      input.type = reveal ? 'text' : 'password';
      btn.textContent = reveal ? 'Hide' : 'Show';
      btn.setAttribute('aria-pressed', String(reveal));
      btn.setAttribute('aria-label', reveal ? 'Hide password' : 'Show password');
      input.focus();
    });
  }
}

// hidePasswords puts the password fields under root back to hidden text.
export function hidePasswords(root) {
  for (const btn of $$('button[data-reveal]', root)) {
    document.getElementById(btn.dataset.reveal).type = 'password';
    btn.textContent = 'Show';
    btn.setAttribute('aria-pressed', 'false');
    btn.setAttribute('aria-label', 'Show password');
  }
}

// busy disables a form's controls while a request runs.
export function busy(form, on, label) {
  for (const c of form.elements) c.disabled = on;
  const submit = $('button[type=submit]', form);
  if (on) {
    submit.dataset.label = submit.textContent;
    submit.textContent = label;
  } else if (submit.dataset.label) {
    submit.textContent = submit.dataset.label;
  }
  form.setAttribute('aria-busy', String(on));
}

export function formatDate(d) {
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function relativeTime(d) {
  const secs = Math.round((d.getTime() - Date.now()) / 1000);
  const units = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  for (const [unit, n] of units) {
    if (Math.abs(secs) >= n || unit === 'second') return rtf.format(Math.round(secs / n), unit);
  }
  return '';
}

// timeEl renders a time as a <time> with the date and, as a title, how
// far away it is; no time is shown as the muted text none.
export function timeEl(iso, none) {
  if (!iso && none !== undefined) return el('span', { class: 'muted' }, none);
  const d = new Date(iso);
  const t = el('time', null, isNaN(d) ? String(iso || '') : formatDate(d));
  if (!isNaN(d)) {
    t.dateTime = d.toISOString();
    t.title = relativeTime(d);
  }
  return t;
}

// copyText puts text on the clipboard for a Copy button and says on the
// button whether it worked. Where the clipboard is not available (plain
// HTTP on another host than localhost) or refused, it selects node's
// text instead, so the user can copy it with the keyboard.
export async function copyText(btn, text, node) {
  const label = btn.dataset.label || btn.textContent;
  btn.dataset.label = label;
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (_) {
      copied = false;
    }
  }
  if (!copied && node) {
    if (typeof node.select === 'function') {
      node.focus();
      node.select();
    } else {
      window.getSelection().selectAllChildren(node);
    }
  }
  btn.textContent = copied ? 'Copied' : 'Selected: copy it now';
  clearTimeout(Number(btn.dataset.timer));
  btn.dataset.timer = String(setTimeout(() => { btn.textContent = label; }, 2500));
  return copied;
}
