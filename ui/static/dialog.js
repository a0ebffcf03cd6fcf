// ProxyOS dashboard: the one dialog the pages ask their questions in,
// before deleting or revoking something (confirmDialog), or to get a
// password the server checks while the dialog stays open (passwordDialog).
// Its markup is <template id="tpl-dialog"> in index.html; the dialog is
// added to the page on first use and reused for every question.

import { $, busy, errorBoxOf, hidePasswords, show, template, wirePasswordReveal } from './dom.js';

let dialog = null;

// theDialog returns the <dialog>, adding it to the page the first time.
function theDialog() {
  if (!dialog) {
    document.body.append(template('dialog'));
    dialog = $('#confirm-dialog');
    wirePasswordReveal(dialog);
    // While the server checks an answer, Escape does not close the
    // dialog: the answer would land on a question no longer shown.
    dialog.addEventListener('cancel', (ev) => {
      if ($('#confirm-form', dialog).getAttribute('aria-busy') === 'true') ev.preventDefault();
    });
  }
  return dialog;
}

// confirmDialog asks a yes/no question before a destructive action; yes
// is the label of the (red) confirm button. It resolves to true for yes,
// false for Cancel or Escape.
export function confirmDialog(title, text, yes) {
  return ask({ title: title, text: text, yes: yes, danger: true });
}

// passwordDialog asks for a password: o.label and o.autocomplete
// ("current-password" for the user's own, "new-password" for a new one)
// describe the field, o.username is the account it belongs to (for
// password managers), o.title, o.text and o.yes the question. When the
// user confirms, o.submit(password) runs with the dialog still open and
// busy; it resolves to a message to show under the field, which keeps the
// dialog open for another try, or to '' to close it. passwordDialog
// resolves when the dialog closes: to true after submit closed it, false
// for Cancel or Escape.
export function passwordDialog(o) {
  return ask({
    title: o.title, text: o.text, yes: o.yes, busyLabel: o.busyLabel || 'Saving…',
    password: { label: o.label, autocomplete: o.autocomplete, username: o.username },
    submit: o.submit,
  });
}

// ask shows the dialog for one question and resolves to the answer.
function ask(o) {
  const d = theDialog();
  const form = $('#confirm-form', d);
  const field = $('#confirm-field', d);
  const input = $('#confirm-password', d);
  const errorBox = errorBoxOf(input);
  const yes = $('#confirm-yes', d);
  const no = $('#confirm-no', d);
  if (d.open) return Promise.resolve(false); // one question at a time

  $('#confirm-title', d).textContent = o.title;
  show($('#confirm-text', d), o.text || '');
  yes.textContent = o.yes;
  yes.className = 'btn ' + (o.danger ? 'btn-danger' : 'btn-primary');
  field.hidden = !o.password;
  input.required = !!o.password;
  if (o.password) {
    $('label', field).textContent = o.password.label;
    input.autocomplete = o.password.autocomplete;
  }
  $('#confirm-username', d).value = o.password ? o.password.username || '' : '';
  input.value = '';
  input.removeAttribute('aria-invalid');
  show(errorBox, '');
  hidePasswords(d);
  const opener = document.activeElement;

  return new Promise((resolve) => {
    let settled = false;
    function finish(answer) {
      if (settled) return;
      settled = true;
      form.removeEventListener('submit', onSubmit);
      no.removeEventListener('click', onNo);
      d.removeEventListener('close', onClose);
      if (d.open) d.close();
      input.value = '';
      hidePasswords(d);
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    }
    async function onSubmit(ev) {
      ev.preventDefault();
      if (!o.submit) {
        finish(true);
        return;
      }
      input.removeAttribute('aria-invalid');
      show(errorBox, '');
      busy(form, true, o.busyLabel);
      let msg;
      try {
        msg = await o.submit(input.value);
      } catch (err) {
        finish(false);
        throw err;
      } finally {
        busy(form, false);
      }
      if (!msg) {
        finish(true);
        return;
      }
      input.setAttribute('aria-invalid', 'true');
      show(errorBox, msg);
      input.focus();
    }
    const onNo = () => finish(false);
    // Escape closes the dialog. A close event still queued from the
    // previous question can arrive after the dialog opened again: only a
    // dialog that is really closed counts.
    const onClose = () => {
      if (!d.open) finish(false);
    };
    form.addEventListener('submit', onSubmit);
    no.addEventListener('click', onNo);
    d.addEventListener('close', onClose);
    d.showModal();
    (o.password ? input : no).focus();
  });
}
