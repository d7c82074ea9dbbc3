// Admin API on the gateway itself: config reload (audited), the current route table and live
// counters for the admin page. Prometheus scrapes /metrics instead of /api/stats.
import { GatewayError } from '../../gateway/errors.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiRoute, noBody } from '../http.js';
import { routeTable } from '../views.js';
import { ADMIN_ACTOR } from './users.js';

export function systemRoutes(deps: AdminApiDeps): ApiRoute[] {
  return [
    {
      pattern: '/api/reload',
      methods: {
        POST: async ({ req, res }) => {
          await noBody(req);
          const result = deps.reload();
          deps.services.audit.record({
            type: 'admin_reload',
            actor: ADMIN_ACTOR,
            details: result.ok ? { ok: true, generation: result.generation } : { ok: false },
          });
          if (!result.ok) {
            // The operator needs to know why; config errors name keys and lines, never secret values.
            throw new GatewayError('validation_failed', {
              message: `Config reload failed; the current config stays: ${result.error.message}`,
            });
          }
          const table = routeTable(deps.current());
          sendSuccess(res, 200, 'Config reloaded', {
            generation: table.generation,
            routes: table.routes.length,
          });
        },
      },
    },
    {
      pattern: '/api/routes',
      methods: { GET: async ({ res }) => sendSuccess(res, 200, 'Routes', routeTable(deps.current())) },
    },
    {
      pattern: '/api/stats',
      methods: { GET: async ({ res }) => sendSuccess(res, 200, 'Stats', await deps.stats()) },
    },
  ];
}
