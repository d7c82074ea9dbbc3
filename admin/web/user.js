// One user's page: account (roles, disable/enable, delete), lock state with unlock, live sessions with
// revoke, recent logins. Every action calls the admin API and re-renders from what it answers.
import { api, query } from './api.js';
import { actionButton, badge, h, mount, section, table, time } from './dom.js';
import { failure, notice } from './notice.js';
import { statusBadges } from './users.js';

function lockLine(label, lock) {
  return h(
    'tr',
    {},
    h('th', { scope: 'row' }, label),
    h('td', {}, lock.locked ? badge('locked', 'bad') : badge('open', 'ok')),
    h('td', {}, `${lock.failures} / ${lock.limit} failures`),
    h('td', {}, lock.locked ? `${lock.retry_after_s} s left` : ''),
  );
}

export async function userView(view, id) {
  const base = `/api/users/${encodeURIComponent(id)}`;

  /** Runs an action; renders the user it answers with (or reloads), and reports the outcome. */
  const act = async (done, call) => {
    try {
      const data = await call();
      render(data?.user === undefined ? await api('GET', base) : data);
      notice(done);
    } catch (err) {
      failure(err);
    }
  };

  function render(d) {
    const u = d.user;
    const roles = h('input', { name: 'roles', autocomplete: 'off', 'aria-label': 'Roles, comma-separated' });
    roles.value = u.roles.join(', ');
    const saveRoles = (event) => {
      event.preventDefault();
      const list = roles.value
        .split(',')
        .map((r) => r.trim())
        .filter((r) => r !== '');
      act('Roles updated.', () => api('PUT', `${base}/roles`, { roles: list }));
    };
    const toggle = u.is_active
      ? actionButton(
          'Disable account',
          () => act('Account disabled; its sessions are revoked.', () => api('POST', `${base}/disable`)),
          {
            kind: 'danger',
            confirmText: `Disable ${u.email}? Every session ends now.`,
          },
        )
      : actionButton('Enable account', () => act('Account enabled.', () => api('POST', `${base}/enable`)));
    const remove = actionButton(
      'Delete account',
      () => act('Account deleted; its sessions are revoked.', () => api('DELETE', base)),
      {
        kind: 'danger',
        confirmText: `Delete ${u.email}? Every session ends now and the account can never log in again. Its login records and audit events stay, and the email stays taken.`,
      },
    );
    // A deleted account takes no change that could give it something back (the API refuses them).
    const account = u.is_deleted
      ? [
          h('p', {}, `Roles: ${u.roles.length === 0 ? '(none)' : u.roles.join(', ')}`),
          h(
            'p',
            { class: 'muted' },
            'This account is deleted: it cannot log in again. Its records stay; the email stays taken.',
          ),
        ]
      : [
          h(
            'form',
            { class: 'inline', onsubmit: saveRoles },
            h('label', {}, 'Roles ', roles),
            h('button', { type: 'submit' }, 'Save roles'),
          ),
          h('p', {}, toggle, ' ', remove),
        ];
    const anyLock =
      d.lock.account.locked ||
      d.lock.sources.some((s) => s.locked || s.failures > 0) ||
      d.lock.account.failures > 0;

    mount(
      view,
      h(
        'section',
        { class: 'card head' },
        h('p', {}, h('a', { href: '#/users' }, '← Users')),
        h('h1', {}, u.email, ' ', statusBadges(u)),
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Name'),
          h('dd', {}, `${u.first_name} ${u.last_name}`),
          h('dt', {}, 'User id'),
          h('dd', {}, h('code', {}, u.id)),
          h('dt', {}, 'Joined'),
          h('dd', {}, time(u.created_at)),
          h('dt', {}, 'Updated'),
          h('dd', {}, time(u.updated_at)),
        ),
        h('p', {}, h('a', { href: `#/audit${query({ user: u.id })}` }, 'Audit events of this user →')),
      ),
      h(
        'div',
        { class: 'grid' },
        section('Account', account),
        section(
          'Lock state',
          h(
            'table',
            { class: 'locks' },
            h(
              'tbody',
              {},
              lockLine('Account-wide', d.lock.account),
              d.lock.sources.map((s) => lockLine(s.ip, s)),
            ),
          ),
          h(
            'p',
            { class: 'muted' },
            'Per source: failed logins of this email from that IP in the current cool-off.',
          ),
          anyLock && !u.is_deleted
            ? actionButton('Unlock', () =>
                act('Every lock and counter of this email is cleared.', () => api('POST', `${base}/unlock`)),
              )
            : null,
        ),
      ),
      section(
        `Sessions (${d.sessions.length})`,
        table(
          ['Device', 'IP', 'Created', 'Last seen', 'Expires', ''],
          d.sessions.map((s) =>
            h(
              'tr',
              { 'data-sid': s.sid },
              h('td', { class: 'ua' }, s.user_agent || '(none)'),
              h('td', {}, s.ip),
              h('td', {}, time(s.created_at)),
              h('td', {}, time(s.last_seen)),
              h('td', {}, time(s.expires_at)),
              h(
                'td',
                {},
                actionButton(
                  'Revoke',
                  () =>
                    act('Session revoked.', () =>
                      api('DELETE', `${base}/sessions/${encodeURIComponent(s.sid)}`),
                    ),
                  {
                    kind: 'danger small',
                  },
                ),
              ),
            ),
          ),
          'No live session.',
        ),
        d.sessions.length > 1
          ? actionButton(
              'Revoke all sessions',
              () => act('Every session revoked.', () => api('DELETE', `${base}/sessions`)),
              {
                kind: 'danger',
                confirmText: `End every session of ${u.email}?`,
              },
            )
          : null,
      ),
      section(
        'Recent logins',
        table(
          ['Time', 'Result', 'IP', 'Device'],
          d.logins.map((l) =>
            h(
              'tr',
              {},
              h('td', {}, time(l.at)),
              h('td', {}, l.success ? badge('success', 'ok') : badge(l.reason ?? 'failed', 'bad')),
              h('td', {}, l.ip),
              h('td', { class: 'ua' }, l.user_agent),
            ),
          ),
          'No login recorded.',
        ),
      ),
    );
  }

  render(await api('GET', base));
}
