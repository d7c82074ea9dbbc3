// Admin API on the audit log: newest events first, filtered by user, type and time, and the event types
// the gateway writes (the page's filter offers them). Read-only: the chain itself is checked by
// `portcullis audit verify`.
import { AUDIT_EVENT_TYPES } from '../../gateway/audit.js';
import { AUDIT_LIST_MAX, AUDIT_TIME_FORMS, isEventType, parseAuditTime } from '../../gateway/audit-query.js';
import { GatewayError } from '../../gateway/errors.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiRoute, intValue } from '../http.js';
import { auditView } from '../views.js';

function parseSince(raw: string): Date {
  const at = parseAuditTime(raw);
  if (at === null)
    throw new GatewayError('validation_failed', { message: `since: must be ${AUDIT_TIME_FORMS}` });
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
    {
      pattern: '/api/audit/types',
      methods: {
        GET: async ({ res }) => sendSuccess(res, 200, 'Audit event types', { types: AUDIT_EVENT_TYPES }),
      },
    },
  ];
}
