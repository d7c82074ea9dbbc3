// Admin API on the audit log: newest events first, filtered by user, type and time. Read-only: the
// chain itself is checked by `portcullis audit verify`.
import { GatewayError } from '../../gateway/errors.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiRoute, intValue } from '../http.js';
import { auditView } from '../views.js';

const EVENT_TYPE = /^[a-z][a-z_]{0,63}$/;

/** An ISO-8601 instant or milliseconds since the epoch. */
function parseSince(raw: string): Date {
  const at = /^\d{1,15}$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(at)) {
    throw new GatewayError('validation_failed', {
      message: 'since: must be an ISO-8601 time or milliseconds since the epoch',
    });
  }
  return new Date(at);
}

export function auditRoutes(deps: AdminApiDeps): ApiRoute[] {
  return [
    {
      pattern: '/api/audit',
      methods: {
        GET: {
          query: ['user', 'type', 'since', 'limit'],
          handle: async ({ query: q, res }) => {
            const user = q.get('user') || undefined;
            const type = q.get('type') || undefined;
            const since = q.get('since') || undefined;
            if (type !== undefined && !EVENT_TYPE.test(type)) {
              throw new GatewayError('validation_failed', { message: 'type: not an event type' });
            }
            const events = await deps.services.users.listAudit({
              limit: intValue(q.get('limit'), 'limit', 100, 500),
              ...(user === undefined ? {} : { user }),
              ...(type === undefined ? {} : { type }),
              ...(since === undefined ? {} : { since: parseSince(since) }),
            });
            sendSuccess(res, 200, 'Audit events', { events: events.map(auditView) });
          },
        },
      },
    },
  ];
}
