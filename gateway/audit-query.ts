// How an audit listing is asked for, shared by the admin API (GET /api/audit) and `portcullis audit list`:
// the time and type filters and the largest page. It parses only; the user store runs the query.

import { MAX_SEARCH_LIMIT } from './users/user-store.js';

/** The most events one listing returns (the user stores refuse more). */
export const AUDIT_LIST_MAX = MAX_SEARCH_LIMIT;

const EVENT_TYPE = /^[a-z][a-z_]{0,63}$/;

/** An ISO-8601 instant or milliseconds since the epoch; null when it is neither. */
export function parseAuditTime(raw: string): Date | null {
  const at = /^\d{1,15}$/.test(raw) ? Number(raw) : Date.parse(raw);
  return Number.isFinite(at) ? new Date(at) : null;
}

/** Looks like an event type (`login_failure`); an unknown but well-formed one simply matches nothing. */
export function isEventType(raw: string): boolean {
  return EVENT_TYPE.test(raw);
}
