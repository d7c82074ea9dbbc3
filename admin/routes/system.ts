// Admin API on the gateway itself: config reload (audited; with workers it answers once every worker
// has), the current route table and live counters for the admin page. Prometheus scrapes /metrics instead.
import { GatewayError } from '../../gateway/errors.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import { actorFields } from '../../gateway/operations.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiRoute, noBody } from '../http.js';
import { routeTable } from '../views.js';
import { adminActor } from './users.js';

export function systemRoutes(deps: AdminApiDeps): ApiRoute[] {
  return [
    {
      pattern: '/api/reload',
      methods: {
        POST: async ({ req, res }) => {
          await noBody(req);
          const result = await deps.reload();
          const event = {
            type: 'admin_reload',
            ...actorFields(adminActor(req)),
            details: result.ok
              ? {
                  ok: true,
                  generation: result.generation,
                  restart_required: result.restartRequired,
                  admin_token_changed: result.adminTokenChanged,
                }
              : { ok: false, reason: result.reason },
          } as const;
          // A reload that took effect waits for its event, as every operator change (operations.ts).
          if (result.ok) await deps.services.audit.recordWritten(event);
          else deps.services.audit.record(event);
          if (!result.ok) {
            // The operator needs to know why; config errors name keys and lines, never secret values. A
            // refused file is the request's problem (400); a worker that did not answer is the gateway's.
            if (result.reason === 'invalid_config') {
              throw new GatewayError('validation_failed', {
                message: `Config reload failed; the current config stays (generation ${result.generation}): ${result.error}`,
              });
            }
            throw new GatewayError('internal_error', { message: `Config reload failed: ${result.error}` });
          }
          sendSuccess(res, 200, 'Config reloaded', {
            generation: result.generation,
            routes: deps.current().routes.length,
            workers: result.workers,
            restart_required: result.restartRequired,
            admin_token_changed: result.adminTokenChanged,
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
