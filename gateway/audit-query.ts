// How an audit listing is asked for, shared by the admin API (GET /api/audit) and `portcullis audit list`:
// the time and type filters, the page cursor and the largest page. It parses only; the user store runs
// the query.

import { MAX_SEARCH_LIMIT } from './users/user-store.js';

/** The most events one listing returns (the user stores refuse more). */
export const AUDIT_LIST_MAX = MAX_SEARCH_LIMIT;

const EVENT_TYPE = /^[a-z][a-z_]{0,63}$/;

/** What a refused time is told: the forms parseAuditTime takes. */
export const AUDIT_TIME_FORMS =
  'an ISO-8601 date-time with Z or an offset (2026-12-02T08:00:00Z, 2026-12-02T09:00+01:00), ' +
  'a date (2026-12-02, midnight UTC) or milliseconds since the epoch';

/**
 * RFC 3339's profile of ISO-8601 (seconds and fraction optional), or a date alone. Never a time without
 * a zone: Date.parse would read it in the server's own time zone, so one link would mean different
 * instants on different replicas. A space where the offset's sign goes is `+`: a query string decodes
 * an unencoded `+` (`?since=2026-12-02T09:00+01:00`, as typed) to a space, and no other reading exists.
 */
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+ -])(\d{2}):(\d{2})))?$/;

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** The instant of an ISO_TIME match; null when a field is out of range (2026-02-30, 24:00, +24:00). */
function isoInstant(m: RegExpExecArray): number | null {
  const field = (i: number): number => Number(m[i] ?? 0);
  const [year, month, day] = [field(1), field(2), field(3)];
  const [hour, minute, second] = [field(4), field(5), field(6)];
  const [offsetHours, offsetMinutes] = [field(10), field(11)];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return null;
  // Date.UTC would read the years 0-99 as 1900-1999: the year is set on its own.
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day);
  // A fraction finer than the millisecond is cut: the log keeps milliseconds.
  at.setUTCHours(hour, minute, second, Number((m[7] ?? '').padEnd(3, '0').slice(0, 3)));
  const offset = (offsetHours * 60 + offsetMinutes) * (m[9] === '-' ? -1 : 1);
  return at.getTime() - offset * 60_000;
}

/** A time as AUDIT_TIME_FORMS describes it; null for anything else. */
export function parseAuditTime(raw: string): Date | null {
  if (/^\d{1,15}$/.test(raw)) return new Date(Number(raw));
  const m = ISO_TIME.exec(raw);
  const at = m === null ? null : isoInstant(m);
  return at === null ? null : new Date(at);
}

/** A `before` cursor: a positive integer in decimal (an event id); null for anything else. */
export function parseAuditId(raw: string): number | null {
  if (!/^[1-9]\d{0,15}$/.test(raw)) return null;
  const id = Number(raw);
  return Number.isSafeInteger(id) ? id : null;
}

/**
 * The cursor of the page after `events` (newest first): the last id when the page is full, null when
 * it is not, so a full last page is followed by one empty page rather than costing a look-ahead row.
 */
export function nextBefore(events: readonly { readonly id: number }[], limit: number): number | null {
  return events.length < limit ? null : (events.at(-1)?.id ?? null);
}

/** Looks like an event type (`login_failure`); an unknown but well-formed one simply matches nothing. */
export function isEventType(raw: string): boolean {
  return EVENT_TYPE.test(raw);
}
