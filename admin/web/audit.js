// The audit log view: newest events first, filtered by user id, event type and start time, one page at a
// time: "Older" opens the page below the last event shown (before=<its id>, the API's next_before), with
// the same filters. The types offered are the gateway's own list; one from a link that is not in it is
// kept and marked, never dropped for "any type". Details are shown as JSON text, never interpreted.
import { api, query } from './api.js';
import { actionButton, h, mount, table, time } from './dom.js';

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

  const before = params.get('before') ?? '';
  const filters = () => ({
    user: user.value.trim(),
    type: type.value,
    since: since.value,
    limit: limit.value,
  });
  const open = (next) => {
    if (location.hash === next) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = next;
  };
  // A new filter starts again from the newest event.
  const apply = (event) => {
    event.preventDefault();
    open(`#/audit${query(filters())}`);
  };

  const sinceValue = since.value === '' ? '' : new Date(since.value).toISOString();
  const data = await api('GET', `/api/audit${query({ ...filters(), since: sinceValue, before })}`);
  const paging = h(
    'p',
    { class: 'paging' },
    before === '' ? null : h('a', { href: `#/audit${query(filters())}` }, 'Newest'),
    data.next_before === null
      ? null
      : actionButton(
          'Older',
          async () => open(`#/audit${query({ ...filters(), before: data.next_before })}`),
          {
            kind: 'ghost',
          },
        ),
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
        before === '' ? 'No event matches.' : 'No older event matches.',
      ),
      paging,
    ),
  );
}
