// The admin page's entry module: sign-in with the admin token, hash routing between the views, a
// status line for action results and the live counters in the header (polled from /api/stats).
import { ApiError, api, token, whenUnauthorised } from './api.js';
import { auditView } from './audit.js';
import { h, mount } from './dom.js';
import { gatewayView } from './gateway.js';
import { failure } from './notice.js';
import { userView } from './user.js';
import { usersView } from './users.js';

const $ = (id) => document.getElementById(id);
const COUNTER_POLL_MS = 5_000;
let pollTimer = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/users';
  const at = raw.indexOf('?');
  const path = at < 0 ? raw : raw.slice(0, at);
  const params = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
  return { parts: path.split('/').filter((p) => p !== ''), params };
}

async function route() {
  if (token.get() === null) return showSignIn();
  const { parts, params } = parseHash();
  $('notice').hidden = true;
  refreshCounters();
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', link.dataset.view === (parts[0] === 'user' ? 'users' : parts[0]));
  }
  // Each visit renders into a slot of its own: the answer to a view the admin has already left lands
  // in a detached slot and can neither replace the view they are on nor be used from a stale form.
  const view = h('div', { class: 'slot' });
  mount($('view'), view);
  try {
    if (parts[0] === 'user' && parts[1] !== undefined) await userView(view, decodeURIComponent(parts[1]));
    else if (parts[0] === 'audit') await auditView(view, params);
    else if (parts[0] === 'gateway') await gatewayView(view);
    else await usersView(view, params);
  } catch (err) {
    if (!view.isConnected) return;
    mount(view);
    failure(err);
  }
}

function counter(label, value, kind = '') {
  return h('li', { class: kind }, h('span', { class: 'label' }, label), h('b', {}, value));
}

async function refreshCounters() {
  if (token.get() === null || document.hidden) return;
  try {
    const s = await api('GET', '/api/stats');
    const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
    mount(
      $('counters'),
      counter('requests', s.requests),
      counter('5xx', s.by_status['5xx'] ?? 0, (s.by_status['5xx'] ?? 0) > 0 ? 'warn' : ''),
      counter('auth failures', sum(s.auth_failures)),
      counter('429', s.rate_limited + s.lockouts),
      counter('sessions', s.active_sessions),
    );
  } catch {
    // The next poll tries again; a 401 has already signed the page out.
  }
}

function showSignIn(message = '') {
  clearInterval(pollTimer);
  pollTimer = null;
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('counters').hidden = true;
  $('notice').hidden = true;
  mount($('view'));
  $('signin').hidden = false;
  $('signin-error').textContent = message;
  $('signin').elements.token.focus();
}

function showApp() {
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('signout').hidden = false;
  $('counters').hidden = false;
  refreshCounters();
  pollTimer ??= setInterval(refreshCounters, COUNTER_POLL_MS);
  return route();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const value = form.elements.token.value.trim();
  form.elements.token.value = '';
  token.set(value);
  try {
    await api('GET', '/api/stats');
  } catch (err) {
    token.clear();
    showSignIn(
      err instanceof ApiError && err.status === 401 ? 'That token was refused.' : String(err.message),
    );
    return;
  }
  await showApp();
}

function start() {
  $('signin').addEventListener('submit', signIn);
  $('signout').addEventListener('click', () => {
    token.clear();
    showSignIn();
  });
  whenUnauthorised(() => {
    token.clear();
    showSignIn('The gateway refused the token: sign in again.');
  });
  window.addEventListener('hashchange', () => route());
  document.addEventListener('visibilitychange', () => refreshCounters());
  if (token.get() === null) showSignIn();
  else showApp();
}

start();
