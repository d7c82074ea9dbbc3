// The audit log over the admin API against a real gateway: filters by user, type and time, the time
// forms `since` takes and the ones it refuses, and the list of event types (what the page offers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES } from '../../../gateway/audit.js';
import { expectFailure, registerAndLogin } from '../accounts/support.js';
import { type AdminFixture, admin, adminOk, startAdminFixture } from './support.js';

let fx: AdminFixture;

beforeAll(async () => {
  fx = await startAdminFixture();
});
afterAll(() => fx.close());

interface Event {
  readonly id: number;
  readonly at: string;
  readonly type: string;
  readonly user_id: string | null;
}

const events = async (query: string): Promise<Event[]> =>
  (await adminOk(fx.gw, 'GET', `/api/audit?${query}`)).events as Event[];

describe('audit', () => {
  it('filters by user, type and time, newest first, bounded by limit', async () => {
    const before = new Date(Date.now() - 1).toISOString();
    const { id } = await registerAndLogin(fx.gw);
    await adminOk(fx.gw, 'PUT', `/api/users/${id}/roles`, { json: { roles: ['user', 'ops'] } });
    await fx.gw.services.audit.flush();
    const mine = (await adminOk(fx.gw, 'GET', `/api/audit?user=${id}`)).events as Array<
      Record<string, unknown>
    >;
    expect(mine.map((e) => e.type)).toEqual(['admin_set_roles', 'login_success', 'register']);
    expect(mine[0]).toMatchObject({ actor: 'admin', user_id: id, details: { roles: ['user', 'ops'] } });
    const ids = mine.map((e) => e.id as number);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const typed = (await adminOk(fx.gw, 'GET', `/api/audit?user=${id}&type=register`)).events as unknown[];
    expect(typed).toHaveLength(1);
    const since = await events(`since=${encodeURIComponent(before)}&limit=500`);
    expect(since.every((e) => e.user_id === id || e.user_id === null)).toBe(true);
    expect(await events(`since=${Date.now() + 60_000}`)).toEqual([]);
    expect((await events('limit=2')).length).toBe(2);
  });

  it('pages with before=<id> to the oldest event, next_before naming each next page; until bounds the time', async () => {
    for (let i = 0; i < 3; i++) await registerAndLogin(fx.gw);
    await fx.gw.services.audit.flush();
    const listed = await events('limit=500');
    const all = listed.map((e) => e.id);
    expect(all.length).toBeGreaterThan(6);
    const seen: number[] = [];
    let query = 'limit=4';
    for (let pages = 0; pages < 200; pages++) {
      const data = await adminOk(fx.gw, 'GET', `/api/audit?${query}`);
      seen.push(...(data.events as Event[]).map((e) => e.id));
      if (data.next_before === null) break;
      expect(data.next_before).toBe(seen.at(-1));
      query = `limit=4&before=${data.next_before}`;
    }
    expect(seen).toEqual(all);
    expect(seen.at(-1)).toBe(1);
    // A page that is not full is the last.
    expect((await adminOk(fx.gw, 'GET', `/api/audit?before=${all[1]}&limit=500`)).next_before).toBeNull();
    const [newest, second] = await events('limit=2');
    // until is exclusive, with the forms since takes (an unencoded '+' included).
    const until = (await events(`until=${encodeURIComponent(newest!.at)}&limit=500`)).map((e) => e.id);
    expect(until).not.toContain(newest!.id);
    expect(until).toEqual(listed.filter((e) => e.at < newest!.at).map((e) => e.id));
    const ms = Date.parse(newest!.at);
    const plus = new Date(ms + 3_600_000).toISOString().replace('Z', '+01:00');
    expect((await events(`until=${plus}&limit=500`)).map((e) => e.id)).not.toContain(newest!.id);
    expect((await events(`until=${ms + 1}&limit=1`)).map((e) => e.id)).toEqual([newest!.id]);
    expect((await events(`before=${newest!.id}&limit=1`)).map((e) => e.id)).toEqual([second!.id]);
  });

  it.each([
    'since=yesterday',
    'until=yesterday',
    'until=2026-12-02T08:00:00',
    'before=0',
    'before=-1',
    'before=1.5',
    'before=abc',
    'before=01',
    'before=99999999999999999',
    'before=1&before=2',
    'type=Login-Success',
    'limit=0',
    'limit=501',
    'who=me',
    'type=a&type=b',
  ])('?%s is 400 validation_failed', async (q) => {
    expectFailure(await admin(fx.gw, 'GET', `/api/audit?${q}`), 400, 'validation_failed');
  });

  it('a well-formed type the gateway does not write (an older version may have) matches nothing', async () => {
    expect(await events('type=retired_event')).toEqual([]);
  });
});

describe('since', () => {
  /** The newest event, and `since` queries around its time. */
  async function newest(): Promise<{ event: Event; ms: number }> {
    await registerAndLogin(fx.gw);
    await fx.gw.services.audit.flush();
    const [event] = await events('limit=1');
    return { event: event!, ms: Date.parse(event!.at) };
  }
  /** `ms` as an ISO-8601 time at `offset` minutes east of UTC, e.g. 2026-12-02T10:00:00.123+02:00. */
  function atOffset(ms: number, offset: number): string {
    const local = new Date(ms + offset * 60_000).toISOString().slice(0, -1);
    const sign = offset < 0 ? '-' : '+';
    const hh = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
    const mm = String(Math.abs(offset) % 60).padStart(2, '0');
    return `${local}${sign}${hh}:${mm}`;
  }
  const ids = async (since: string): Promise<number[]> =>
    (await events(`since=${encodeURIComponent(since)}&limit=500`)).map((e) => e.id);

  it('takes an ISO-8601 date-time with Z or an offset, to the millisecond', async () => {
    const { event, ms } = await newest();
    for (const offset of [0, 120, -330]) {
      expect(await ids(atOffset(ms, offset)), atOffset(ms, offset)).toContain(event.id);
      expect(await ids(atOffset(ms + 1, offset)), atOffset(ms + 1, offset)).not.toContain(event.id);
    }
    expect(await ids(new Date(ms + 1).toISOString())).not.toContain(event.id);
    expect(await ids(String(ms))).toContain(event.id);
    expect(await ids(String(ms + 1))).not.toContain(event.id);
  });

  it("takes a '+' offset left unencoded in the URL (README's own example), which decodes to a space", async () => {
    const { event, ms } = await newest();
    const plus = atOffset(ms, 60);
    expect(plus).toContain('+01:00');
    // As typed in a shell or a browser bar: `+` unencoded, so the query string decodes it to a space.
    expect((await events(`since=${plus}&limit=500`)).map((e) => e.id)).toContain(event.id);
    expect((await events(`since=${atOffset(ms + 1, 60)}&limit=500`)).map((e) => e.id)).not.toContain(
      event.id,
    );
    expectFailure(
      await admin(fx.gw, 'GET', '/api/audit?since=2026-12-02T09:00%20%2001:00'),
      400,
      'validation_failed',
    );
    expectFailure(
      await admin(fx.gw, 'GET', '/api/audit?since=2026-12-02%2009:00Z'),
      400,
      'validation_failed',
    );
  });

  it('takes seconds or minutes left out, and more fraction digits than milliseconds', async () => {
    const { event, ms } = await newest();
    const minute = new Date(ms - (ms % 60_000)).toISOString();
    expect(await ids(minute.replace(':00.000Z', 'Z'))).toContain(event.id);
    expect(await ids(minute.replace('.000Z', 'Z'))).toContain(event.id);
    expect(await ids(new Date(ms).toISOString().replace('Z', '999Z'))).toContain(event.id);
    expect(await ids(new Date(ms + 1).toISOString().replace('Z', '000Z'))).not.toContain(event.id);
  });

  it('takes a date alone as midnight UTC', async () => {
    const { event, ms } = await newest();
    const day = new Date(ms).toISOString().slice(0, 10);
    const next = new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10);
    expect(await ids(day)).toContain(event.id);
    expect(await ids(next)).toEqual([]);
  });

  // What Date.parse also takes: other formats, years past 9999 or before 0, and times without a zone,
  // which it reads in the server's own time zone.
  it.each([
    '12/02/2026',
    '-271821-04-20',
    '+002026-12-02T00:00:00Z',
    'Wed, 02 Dec 2026 08:00:00 GMT',
    '2026-12-02T08:00:00',
    '2026-12-02T08:00',
    '2026-12-02T08:00:00 GMT',
    '2026-12-02 08:00:00Z',
    '2026-12-02t08:00:00z',
    '2026-12-02T08:00:00+0100',
    '2026-12-02T08:00:00+01',
    '2026-12',
    '2026-02-29T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-12-02T24:00:00Z',
    '2026-12-02T08:60:00Z',
    '2026-12-02T08:00:60Z',
    '2026-12-02T08:00:00+24:00',
    '2026-12-02T08:00:00.Z',
    '1e12',
    '-1',
    '1700000000000.5',
  ])('since=%s is 400 validation_failed naming since', async (since) => {
    const res = await admin(fx.gw, 'GET', `/api/audit?since=${encodeURIComponent(since)}`);
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toMatch(/^since: /);
  });

  it('takes 29 February in a leap year', async () => {
    expect(await ids('2028-02-29T00:00:00Z')).toEqual([]);
  });
});

describe('event types', () => {
  it('GET /api/audit/types lists every type the gateway writes, each one a valid filter', async () => {
    const { types } = (await adminOk(fx.gw, 'GET', '/api/audit/types')) as { types: string[] };
    expect(types).toEqual([...AUDIT_EVENT_TYPES]);
    // The account flows' types, which the page's own list once lacked.
    expect(types).toEqual(
      expect.arrayContaining([
        'password_changed',
        'password_reset',
        'password_reset_requested',
        'email_change_requested',
        'email_changed',
        'email_verified',
        'new_device_alert',
        'device_alert_revoked',
        'login_challenge',
        'totp_enabled',
        'totp_disabled',
        'totp_failure',
        'recovery_code_used',
      ]),
    );
    expect(new Set(types).size).toBe(types.length);
    for (const type of types)
      expect((await admin(fx.gw, 'GET', `/api/audit?type=${type}&limit=1`)).status).toBe(200);
  });
});
