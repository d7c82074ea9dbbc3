// The user search view: a substring search over email and names, newest pages loaded on demand
// through the API's cursor. Each row links to the user's page.
import { api, query } from './api.js';
import { actionButton, badge, h, mount, table, time } from './dom.js';

export function statusBadges(user) {
  return [
    user.is_deleted ? badge('deleted', 'bad') : null,
    user.is_active ? badge('active', 'ok') : badge('disabled', 'bad'),
  ];
}

function row(user) {
  return h(
    'tr',
    {},
    h('td', {}, h('a', { href: `#/user/${encodeURIComponent(user.id)}` }, user.email)),
    h('td', {}, `${user.first_name} ${user.last_name}`),
    h('td', {}, user.roles.join(', ')),
    h('td', {}, statusBadges(user)),
    h('td', {}, time(user.created_at)),
  );
}

export async function usersView(view, params) {
  const q = params.get('q') ?? '';
  const input = h('input', { type: 'search', name: 'q', placeholder: 'email or name', autocomplete: 'off' });
  input.value = q;
  const go = (event) => {
    event.preventDefault();
    const next = `#/users${query({ q: input.value.trim() })}`;
    if (location.hash === next) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = next;
  };
  const results = h('div', { class: 'results' });
  mount(
    view,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Users'),
      h(
        'form',
        { class: 'inline', role: 'search', onsubmit: go },
        h('label', {}, 'Search ', input),
        h('button', { type: 'submit' }, 'Search'),
      ),
      results,
    ),
  );
  input.focus();

  const rows = [];
  let cursor = null;
  async function load() {
    const data = await api('GET', `/api/users${query({ q, limit: 50, cursor })}`);
    rows.push(...data.users.map(row));
    cursor = data.next_cursor;
    mount(
      results,
      table(['Email', 'Name', 'Roles', 'Status', 'Joined'], rows, 'No user matches.'),
      cursor === null ? null : actionButton('Load more', load, { kind: 'ghost' }),
    );
  }
  await load();
}
