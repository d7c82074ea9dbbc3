// The audit log view: newest events first, filtered by user id, event type and start time. The types
// offered are the gateway's own list; one from a link that is not in it is kept and marked, never
// dropped for "any type". Details are shown as JSON text, never interpreted.
import { api, query } from './api.js';
import { h, mount, table, time } from './dom.js';

/** The event types the gateway writes, asked once per page load (GET /api/audit/types). */
let knownTypes = null;
async function eventTypes() {
  knownTypes ??= (await api('GET', '/api/audit/types')).types;
  return knownTypes;
}

function field(label, input) {
  return h('label', {}, label, ' ', input);
}

export async function auditView(view, params) {
  const wanted = params.get('type') ?? '';
  const types = await eventTypes();
  const unknown = wanted !== '' && !types.includes(wanted);
  const user = h('input', { name: 'user', autocomplete: 'off', placeholder: 'user id', size: 34 });
  user.value = params.get('user') ?? '';
  const type = h(
    'select',
    { name: 'type' },
    h('option', { value: '' }, 'any type'),
    types.map((t) => h('option', { value: t }, t)),
    unknown && h('option', { value: wanted }, `${wanted} (not a known type)`),
  );
  type.value = wanted;
  const since = h('input', { name: 'since', type: 'datetime-local' });
  since.value = params.get('since') ?? '';
  const limit = h('input', { name: 'limit', type: 'number', min: 1, max: 500 });
  limit.value = params.get('limit') ?? '100';

  const apply = (event) => {
    event.preventDefault();
    const next = `#/audit${query({ user: user.value.trim(), type: type.value, since: since.value, limit: limit.value })}`;
    if (location.hash === next) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = next;
  };

  const sinceValue = since.value === '' ? '' : new Date(since.value).toISOString();
  const data = await api(
    'GET',
    `/api/audit${query({ user: user.value.trim(), type: type.value, since: sinceValue, limit: limit.value })}`,
  );
  mount(
    view,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Audit log'),
      h(
        'form',
        { class: 'inline filters', onsubmit: apply },
        field('User', user),
        field('Type', type),
        field('Since', since),
        field('Limit', limit),
        h('button', { type: 'submit' }, 'Filter'),
      ),
      table(
        ['#', 'Time', 'Type', 'User', 'Actor', 'IP', 'Details'],
        data.events.map((e) =>
          h(
            'tr',
            {},
            h('td', {}, e.id),
            h('td', {}, time(e.at)),
            h('td', {}, h('code', {}, e.type)),
            h(
              'td',
              {},
              e.user_id === null
                ? ''
                : h('a', { href: `#/user/${encodeURIComponent(e.user_id)}` }, e.user_id.slice(0, 8), '…'),
            ),
            h('td', {}, e.actor ?? ''),
            h('td', {}, e.ip ?? ''),
            h(
              'td',
              { class: 'details' },
              Object.keys(e.details).length === 0 ? '' : JSON.stringify(e.details),
            ),
          ),
        ),
        'No event matches.',
      ),
    ),
  );
}
