// The gateway view: live counters from /api/stats (refreshed while the view is open), the current
// route table, and the config reload button.
import { api } from './api.js';
import { actionButton, badge, h, mount, section, table } from './dom.js';
import { failure, notice } from './notice.js';

const REFRESH_MS = 3_000;

function stat(label, value) {
  return h('div', { class: 'stat' }, h('span', { class: 'label' }, label), h('b', { class: 'value' }, value));
}

function byCode(map) {
  const entries = Object.entries(map).filter(([, n]) => n > 0);
  if (entries.length === 0) return h('p', { class: 'muted' }, 'none');
  return h(
    'ul',
    { class: 'codes' },
    entries.map(([code, n]) => h('li', {}, h('code', {}, code), ` ${n}`)),
  );
}

function renderStats(el, s) {
  mount(
    el,
    h(
      'div',
      { class: 'stats' },
      stat('Requests', s.requests),
      ['2xx', '3xx', '4xx', '5xx'].map((k) => stat(k, s.by_status[k] ?? 0)),
      stat('Rate-limited', s.rate_limited),
      stat('Lockouts', s.lockouts),
      stat('Active sessions', s.active_sessions),
      stat('In flight', s.in_flight),
      stat('State-store errors', s.state_store_errors),
      stat('Token cache hits', `${s.token_cache.hits} / ${s.token_cache.hits + s.token_cache.misses}`),
      stat('Config generation', s.generation),
      stat('Uptime', `${s.uptime_s} s`),
      stat('Workers', s.workers),
    ),
    h(
      'div',
      { class: 'grid' },
      h('div', {}, h('h3', {}, 'Auth failures'), byCode(s.auth_failures)),
      h('div', {}, h('h3', {}, 'Upstream errors'), byCode(s.upstream_errors)),
    ),
  );
}

function routeRows(routes) {
  return routes.map((r) =>
    h(
      'tr',
      {},
      h('td', {}, h('code', {}, r.name), r.internal ? [' ', badge('built-in')] : null),
      h('td', {}, h('code', {}, r.path)),
      h('td', {}, r.methods === null ? 'any' : r.methods.join(', ')),
      h('td', {}, r.host ?? 'any'),
      h('td', {}, r.auth, r.roles.length > 0 ? ` (${r.roles.join(', ')})` : ''),
      h('td', {}, r.upstream.join(', ')),
      h('td', {}, r.rate_limit ?? ''),
      h('td', {}, r.websocket ? 'yes' : ''),
    ),
  );
}

export async function gatewayView(view) {
  const statsEl = h('div');
  const routesEl = h('div');
  const load = async () => {
    const [s, table_] = await Promise.all([api('GET', '/api/stats'), api('GET', '/api/routes')]);
    renderStats(statsEl, s);
    mount(
      routesEl,
      h('p', { class: 'muted' }, `Config generation ${table_.generation}`),
      table(['Name', 'Path', 'Methods', 'Host', 'Auth', 'Upstream', 'Limit', 'WS'], routeRows(table_.routes)),
    );
  };
  const reload = actionButton(
    'Reload config',
    async () => {
      try {
        const r = await api('POST', '/api/reload');
        const where = r.workers > 1 ? ` on all ${r.workers} workers` : '';
        const restart =
          r.restart_required.length > 0
            ? ` Needs a restart to take effect: ${r.restart_required.join(', ')}.`
            : '';
        const token = r.admin_token_changed
          ? ' The admin token changed: sign out and in again with the new one.'
          : '';
        notice(`Config reloaded${where}: generation ${r.generation}, ${r.routes} routes.${restart}${token}`);
        if (!r.admin_token_changed) await load();
      } catch (err) {
        failure(err);
      }
    },
    { confirmText: 'Re-read the config file now?' },
  );
  mount(view, section('Live counters', statsEl), section('Routes', h('p', {}, reload), routesEl));
  await load();
  const timer = setInterval(async () => {
    // Stops when another view replaced this one.
    if (!statsEl.isConnected) return clearInterval(timer);
    if (document.hidden) return;
    try {
      renderStats(statsEl, await api('GET', '/api/stats'));
    } catch {
      clearInterval(timer);
    }
  }, REFRESH_MS);
}
