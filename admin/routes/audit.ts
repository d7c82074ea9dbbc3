// Admin API on the audit log: newest events first, filtered by user, type and time. Read-only: the
// chain itself is checked by `portcullis audit verify`.
import { AUDIT_LIST_MAX, isEventType, parseAuditTime } from '../../gateway/audit-query.js';
import { GatewayError } from '../../gateway/errors.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiRoute, intValue } from '../http.js';
import { auditView } from '../views.js';

/** An ISO-8601 instant or milliseconds since the epoch. */
function parseSince(raw: string): Date {
  const at = parseAuditTime(raw);
  if (at === null) {
    throw new GatewayError('validation_failed', {
      message: 'since: must be an ISO-8601 time or milliseconds since the epoch',
    });
  }
  return at;
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
            if (type !== undefined && !isEventType(type)) {
              throw new GatewayError('validation_failed', { message: 'type: not an event type' });
            }
            const events = await deps.services.users.listAudit({
              limit: intValue(q.get('limit'), 'limit', 100, AUDIT_LIST_MAX),
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
