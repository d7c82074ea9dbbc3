// Admin API on the audit log: newest events first, filtered by user, type and time, paged by id
// (`before`), and the event types the gateway writes (the page's filter offers them). Read-only: the
// chain itself is checked by `portcullis audit verify`.
import { AUDIT_EVENT_TYPES } from '../../gateway/audit.js';
import {
  AUDIT_LIST_MAX,
  AUDIT_TIME_FORMS,
  isEventType,
  nextBefore,
  parseAuditId,
  parseAuditTime,
} from '../../gateway/audit-query.js';
import { GatewayError } from '../../gateway/errors.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiRoute, intValue } from '../http.js';
import { auditView } from '../views.js';

function parseTime(raw: string, name: 'since' | 'until'): Date {
  const at = parseAuditTime(raw);
  if (at === null)
    throw new GatewayError('validation_failed', { message: `${name}: must be ${AUDIT_TIME_FORMS}` });
  return at;
}

function parseBefore(raw: string): number {
  const id = parseAuditId(raw);
  if (id === null)
    throw new GatewayError('validation_failed', { message: 'before: must be a positive integer' });
  return id;
}

export function auditRoutes(deps: AdminApiDeps): ApiRoute[] {
  return [
    {
      pattern: '/api/audit',
      methods: {
        GET: {
          query: ['user', 'type', 'since', 'until', 'before', 'limit'],
          handle: async ({ query: q, res }) => {
            const user = q.get('user') || undefined;
            const type = q.get('type') || undefined;
            const since = q.get('since') || undefined;
            const until = q.get('until') || undefined;
            const before = q.get('before') || undefined;
            if (type !== undefined && !isEventType(type)) {
              throw new GatewayError('validation_failed', { message: 'type: not an event type' });
            }
            const limit = intValue(q.get('limit'), 'limit', 100, AUDIT_LIST_MAX);
            const events = await deps.services.users.listAudit({
              limit,
              ...(user === undefined ? {} : { user }),
              ...(type === undefined ? {} : { type }),
              ...(since === undefined ? {} : { since: parseTime(since, 'since') }),
              ...(until === undefined ? {} : { until: parseTime(until, 'until') }),
              ...(before === undefined ? {} : { before: parseBefore(before) }),
            });
            sendSuccess(res, 200, 'Audit events', {
              events: events.map(auditView),
              next_before: nextBefore(events, limit),
            });
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
