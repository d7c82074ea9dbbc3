// The page's status line: the outcome of the last action. Errors show the gateway's code (and status)
// so an operator can look it up in the README's error table.
import { ApiError } from './api.js';

export function notice(text, kind = 'ok') {
  const el = document.getElementById('notice');
  el.textContent = text;
  el.className = `notice ${kind}`;
  el.hidden = false;
}

export function failure(err) {
  if (err instanceof ApiError) notice(`${err.message} (${err.status} ${err.code})`, 'bad');
  else notice(String(err?.message ?? err), 'bad');
}
