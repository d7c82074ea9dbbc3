// The UserStore contract as one test suite: every backend (SQLite, later PostgreSQL) runs it unchanged.
// Backend-specific behaviour (files, migrations, pragmas) is tested beside each backend, not here.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { User, UserStore, UserStoreOptions } from '../../../gateway/users/user-store.js';
import { appendAudit, recordLogin } from '../../support/records.js';

export interface StoreHarness {
  store: UserStore;
  /** Runs portable raw SQL on the backend's database over a connection of its own (tampering tests). */
  exec(sql: string): Promise<void>;
  cleanup(): Promise<void>;
}

export type MakeStore = (options: UserStoreOptions) => Promise<StoreHarness>;

// uuid4 as hex: version nibble 4, variant 8-b.
const HEX32 = /^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$/;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

async function rejection(promise: Promise<unknown>): Promise<{ code?: unknown; status?: unknown }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: unknown; status?: unknown };
  }
  throw new Error('expected a rejection');
}

export function runUserStoreSuite(name: string, makeStore: MakeStore): void {
  describe(`UserStore contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: UserStore;
    let clock: number;

    beforeEach(async () => {
      clock = T0;
      harness = await makeStore({ now: () => clock });
      store = harness.store;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    const newUser = (email: string, extra: Partial<Parameters<UserStore['createUser']>[0]> = {}) =>
      store.createUser({ email, first_name: 'Ada', last_name: 'Lovelace', password_hash: '$h$', ...extra });

    describe('createUser', () => {
      it('stores the email as given (trimmed) with its canonical form and the defaults', async () => {
        const user = await newUser('  Alice@Example.COM ');
        expect(user).toMatchObject({
          email: 'Alice@Example.COM',
          email_canonical: 'alice@example.com',
          first_name: 'Ada',
          last_name: 'Lovelace',
          password_hash: '$h$',
          roles: ['user'],
          is_active: true,
          is_deleted: false,
        });
        expect(user.created_at.getTime()).toBe(T0);
        expect(user.updated_at.getTime()).toBe(T0);
        expect(await store.findById(user.id)).toEqual(user);
      });

      it('keeps explicit roles', async () => {
        const user = await newUser('root@example.com', { roles: ['admin', 'user'] });
        expect((await store.findById(user.id))?.roles).toEqual(['admin', 'user']);
      });

      it('security: ids are 32 lowercase hex characters, random and distinct', async () => {
        const ids = new Set<string>();
        for (let i = 0; i < 40; i++) ids.add((await newUser(`u${i}@example.com`)).id);
        expect(ids.size).toBe(40);
        for (const id of ids) expect(id).toMatch(HEX32);
        const sorted = [...ids].sort();
        expect(sorted).not.toEqual([...ids]); // not handed out in increasing order
      });

      it.each([
        ['same bytes', 'Alice@Example.com'],
        ['lower case', 'alice@example.com'],
        ['upper case', 'ALICE@EXAMPLE.COM'],
        ['surrounding spaces', ' alice@example.com '],
        ['tab and newline', '\talice@example.com\n'],
        ['full-width', 'ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ'],
        ['full-width upper case', 'ＡＬＩＣＥ@example.com'],
      ])(
        'security: a second account for the same mailbox (%s) is email_taken and writes nothing',
        async (_, email) => {
          const first = await newUser('Alice@Example.com');
          const err = await rejection(newUser(email, { first_name: 'Mallory' }));
          expect(err).toMatchObject({ code: 'email_taken', status: 409 });
          const { users } = await store.searchUsers({ limit: 10 });
          expect(users.map((u) => u.id)).toEqual([first.id]);
          expect((await store.findByEmail(email))?.first_name).toBe('Ada');
        },
      );

      it('treats the Turkish dotless ı as a different mailbox from i', async () => {
        const latin = await newUser('alice@example.com');
        const turkish = await newUser('alıce@example.com');
        expect(turkish.id).not.toBe(latin.id);
        expect(turkish.email_canonical).toBe('alıce@example.com');
        expect((await store.findByEmail('ALICE@example.com'))?.id).toBe(latin.id);
        expect((await store.findByEmail('alıce@example.com'))?.id).toBe(turkish.id);
      });

      it('security: concurrent registrations of one mailbox create exactly one user', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) =>
            newUser(i % 2 === 0 ? 'race@example.com' : 'RACE@example.com'),
          ),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'email_taken' });
        }
      });
    });

    describe('lookups', () => {
      it('findByEmail compares canonical forms and returns null when unknown', async () => {
        const user = await newUser('Bob@Example.com');
        expect((await store.findByEmail(' BOB@example.COM'))?.id).toBe(user.id);
        expect((await store.findByEmail('ｂｏｂ＠example.com'))?.id).toBe(user.id);
        expect(await store.findByEmail('bob@example.org')).toBeNull();
      });

      it('findByEmail with NUL or half a surrogate pair is null, never an error (PostgreSQL refuses NUL)', async () => {
        await newUser('nul@example.com');
        for (const typed of ['nul\u0000@example.com', 'nul@example.com\u0000', 'nul\ud800@example.com'])
          expect(await store.findByEmail(typed)).toBeNull();
        expect(await store.findByEmail('nul@example.com')).not.toBeNull();
      });

      it('findById returns null for an unknown or malformed id', async () => {
        expect(await store.findById('0'.repeat(32))).toBeNull();
        expect(await store.findById("' OR 1=1 --")).toBeNull();
      });

      it('returns disabled and deleted users too: the caller decides', async () => {
        const off = await newUser('off@example.com');
        const gone = await newUser('gone@example.com');
        await store.setActive(off.id, false);
        await store.softDelete(gone.id);
        expect(await store.findByEmail('off@example.com')).toMatchObject({
          is_active: false,
          is_deleted: false,
        });
        expect(await store.findById(gone.id)).toMatchObject({ is_active: true, is_deleted: true });
      });
    });

    describe('updates', () => {
      let user: User;
      beforeEach(async () => {
        user = await newUser('carol@example.com');
        clock = T0 + 60_000;
      });

      it.each([
        [
          'updatePasswordHash',
          (s: UserStore, id: string) => s.updatePasswordHash(id, '$new$'),
          { password_hash: '$new$' },
        ],
        [
          'setRoles',
          (s: UserStore, id: string) => s.setRoles(id, ['admin', 'ops']),
          { roles: ['admin', 'ops'] },
        ],
        ['setRoles (empty)', (s: UserStore, id: string) => s.setRoles(id, []), { roles: [] }],
        ['setActive(false)', (s: UserStore, id: string) => s.setActive(id, false), { is_active: false }],
        ['softDelete', (s: UserStore, id: string) => s.softDelete(id), { is_deleted: true }],
      ] as const)(
        '%s returns the updated user, persists it and bumps updated_at',
        async (_, update, expected) => {
          const result = await update(store, user.id);
          expect(result).toMatchObject({ ...expected, id: user.id, email: user.email });
          expect(result?.updated_at.getTime()).toBe(T0 + 60_000);
          expect(result?.created_at.getTime()).toBe(T0);
          expect(await store.findById(user.id)).toEqual(result);
        },
      );

      it.each([
        ['updatePasswordHash', (s: UserStore) => s.updatePasswordHash('f'.repeat(32), 'x')],
        ['setRoles', (s: UserStore) => s.setRoles('f'.repeat(32), ['admin'])],
        ['setActive', (s: UserStore) => s.setActive('f'.repeat(32), true)],
        ['softDelete', (s: UserStore) => s.softDelete('f'.repeat(32))],
      ] as const)('%s of an unknown id returns null and changes nothing', async (_, update) => {
        expect(await update(store)).toBeNull();
        expect(await store.findById(user.id)).toEqual(user);
      });

      it('setRolesIf sets the roles only while the stored ones are the expected ones', async () => {
        await store.setRoles(user.id, ['user', 'admin']);
        const set = await store.setRolesIf(user.id, ['user', 'admin'], ['user']);
        expect(set).toMatchObject({ id: user.id, roles: ['user'] });
        expect(set?.updated_at.getTime()).toBe(T0 + 60_000);
        expect(await store.findById(user.id)).toEqual(set);
        // Another value, the same names in another order, or an unknown id: nothing changes.
        for (const [id, expected] of [
          [user.id, ['user', 'admin']],
          [user.id, []],
          ['f'.repeat(32), ['user']],
        ] as const) {
          expect(await store.setRolesIf(id, expected, ['root'])).toBeNull();
        }
        await store.setRoles(user.id, ['a', 'b']);
        expect(await store.setRolesIf(user.id, ['b', 'a'], ['root'])).toBeNull();
        expect((await store.findById(user.id))?.roles).toEqual(['a', 'b']);
      });

      it('setActive(true) re-enables a disabled user', async () => {
        await store.setActive(user.id, false);
        expect((await store.setActive(user.id, true))?.is_active).toBe(true);
      });

      it('a soft-deleted account keeps its email reserved', async () => {
        await store.softDelete(user.id);
        expect(await rejection(newUser('Carol@example.com'))).toMatchObject({ code: 'email_taken' });
      });
    });

    describe('searchUsers', () => {
      it('pages through every user once, ordered by (created_at, id), ties included', async () => {
        const created: User[] = [];
        for (let i = 0; i < 11; i++) {
          clock = T0 + Math.floor(i / 4) * 1000; // groups of four share a created_at
          created.push(await newUser(`page${i}@example.com`));
        }
        const expected = [...created]
          .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a.id < b.id ? -1 : 1))
          .map((u) => u.id);
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.searchUsers({ limit: 3, ...(cursor === undefined ? {} : { cursor }) });
          expect(page.users.length).toBeLessThanOrEqual(3);
          seen.push(...page.users.map((u) => u.id));
          cursor = page.next_cursor ?? undefined;
          pages++;
          if (pages === 2) {
            clock = T0 + 10_000;
            await newUser('late@example.com'); // a registration mid-listing lands at the end
          }
        } while (cursor !== undefined && pages < 10);
        expect(seen.slice(0, 11)).toEqual(expected);
        expect(seen).toHaveLength(12);
        expect(new Set(seen).size).toBe(12);
      });

      it('says there is no next page when the last page is exactly full', async () => {
        await newUser('one@example.com');
        await newUser('two@example.com');
        expect((await store.searchUsers({ limit: 2 })).next_cursor).toBeNull();
        expect((await store.searchUsers({ limit: 1 })).next_cursor).not.toBeNull();
      });

      it('matches q against email and names, ignoring case and width', async () => {
        const zoe = await newUser('zoe.w@example.com', { first_name: 'Zoë', last_name: 'Winters' });
        const max = await newUser('max@corp.example', { first_name: 'Max', last_name: 'Müller' });
        await newUser('other@example.com', { first_name: 'Ann', last_name: 'Lee' });
        const ids = async (q: string) => (await store.searchUsers({ q, limit: 10 })).users.map((u) => u.id);
        expect(await ids('ZOË')).toEqual([zoe.id]);
        expect(await ids('winter')).toEqual([zoe.id]);
        expect(await ids('MÜLLER')).toEqual([max.id]);
        expect(await ids('corp.EX')).toEqual([max.id]);
        expect(await ids('ｍａｘ')).toEqual([max.id]);
        expect(await ids('')).toHaveLength(3);
        expect(await ids('nobody')).toEqual([]);
      });

      it.each(['%', '_', "'", '\\', '*'])('treats %s in q as a literal character', async (q) => {
        await newUser('plain@example.com', { first_name: 'Plain', last_name: 'Name' });
        const odd = await newUser('odd@example.com', { first_name: `A${q}B`, last_name: 'X' });
        expect((await store.searchUsers({ q, limit: 10 })).users.map((u) => u.id)).toEqual([odd.id]);
      });

      it.each([
        ['limit 0', { limit: 0 }],
        ['limit above the maximum', { limit: 501 }],
        ['fractional limit', { limit: 1.5 }],
        ['garbage cursor', { limit: 5, cursor: 'not-a-cursor' }],
        ['forged cursor', { limit: 5, cursor: Buffer.from("1.' OR 1=1 --").toString('base64url') }],
      ])('rejects a %s with validation_failed', async (_, query) => {
        expect(await rejection(store.searchUsers(query))).toMatchObject({
          code: 'validation_failed',
          status: 400,
        });
      });
    });

    describe('login records', () => {
      it('an attempt typed with NUL or half a surrogate pair is recorded with U+FFFD in their place', async () => {
        const who = await newUser('frank@example.com');
        const base = { ip: '203.0.113.9', user_agent: 'UA/1', success: false, reason: 'bad_password' };
        await recordLogin(store, { ...base, user_id: who.id, email: 'frank\u0000@example.com' });
        await recordLogin(store, { ...base, user_id: who.id, email: 'frank\udc00@example.com' });
        const emails = (await store.recentLogins(who.id, 10)).map((r) => r.email).sort();
        expect(emails).toEqual(['frank\ufffd@example.com', 'frank\ufffd@example.com']);
      });

      it('records every attempt and lists one user’s newest first', async () => {
        const dave = await newUser('dave@example.com');
        const other = await newUser('erin@example.com');
        const base = { email: 'dave@example.com', ip: '203.0.113.7', user_agent: 'UA/1' };
        await recordLogin(store, { ...base, user_id: dave.id, success: false, reason: 'bad_password' });
        clock += 1000;
        await recordLogin(store, {
          ...base,
          user_id: dave.id,
          success: true,
          reason: null,
          ip: '2001:db8::1',
        });
        clock += 1000;
        await recordLogin(store, {
          ...base,
          user_id: null,
          email: 'nobody@example.com',
          success: false,
          reason: 'unknown',
        });
        await recordLogin(store, {
          ...base,
          user_id: other.id,
          email: 'erin@example.com',
          success: true,
          reason: null,
        });
        const records = await store.recentLogins(dave.id, 10);
        expect(records).toEqual([
          {
            ...base,
            user_id: dave.id,
            success: true,
            reason: null,
            ip: '2001:db8::1',
            at: new Date(T0 + 1000),
          },
          { ...base, user_id: dave.id, success: false, reason: 'bad_password', at: new Date(T0) },
        ]);
        expect(await store.recentLogins(dave.id, 1)).toHaveLength(1);
        expect(await store.recentLogins('0'.repeat(32), 5)).toEqual([]);
      });
    });

    describe('audit log', () => {
      const event = (type: string, user_id: string | null, details: Record<string, unknown> = {}) =>
        appendAudit(store, { type, user_id, actor: 'admin', ip: '127.0.0.1', details });

      it('appends events with increasing ids and lists them newest first, filtered', async () => {
        const a = await event('user_disabled', 'a'.repeat(32), {
          reason: 'abuse',
          nested: { b: 1, a: [1, 2] },
        });
        clock += 5000;
        const b = await event('roles_changed', 'b'.repeat(32), { roles: ['admin'] });
        clock += 5000;
        const c = await event('user_disabled', 'b'.repeat(32), { when: new Date(T0) });
        expect([a.id, b.id, c.id]).toEqual([a.id, a.id + 1, a.id + 2]);
        expect(a).toMatchObject({ type: 'user_disabled', actor: 'admin', ip: '127.0.0.1', at: new Date(T0) });
        expect(c.details).toEqual({ when: new Date(T0).toISOString() });

        const list = await store.listAudit({ limit: 10 });
        expect(list.map((e) => e.id)).toEqual([c.id, b.id, a.id]);
        expect(list[2]).toEqual(a);
        expect((await store.listAudit({ user: 'b'.repeat(32), limit: 10 })).map((e) => e.id)).toEqual([
          c.id,
          b.id,
        ]);
        expect((await store.listAudit({ type: 'user_disabled', limit: 10 })).map((e) => e.id)).toEqual([
          c.id,
          a.id,
        ]);
        expect((await store.listAudit({ since: new Date(T0 + 5000), limit: 10 })).map((e) => e.id)).toEqual([
          c.id,
          b.id,
        ]);
        expect((await store.listAudit({ limit: 1 })).map((e) => e.id)).toEqual([c.id]);
        // One user's events with the other filters too (SQLite reads them from the per-user index).
        const ofB = (q: { type?: string; since?: Date; limit: number }) =>
          store.listAudit({ user: 'b'.repeat(32), ...q }).then((l) => l.map((e) => e.id));
        expect(await ofB({ type: 'user_disabled', limit: 10 })).toEqual([c.id]);
        expect(await ofB({ type: 'roles_changed', limit: 10 })).toEqual([b.id]);
        expect(await ofB({ since: new Date(T0 + 10_000), limit: 10 })).toEqual([c.id]);
        expect(await ofB({ limit: 1 })).toEqual([c.id]);
        expect(await store.listAudit({ user: 'a'.repeat(32), type: 'roles_changed', limit: 10 })).toEqual([]);
        expect(await store.listAudit({ user: 'c'.repeat(32), limit: 10 })).toEqual([]);
      });

      it('pages older events with before (ids below it) and bounds them with until (before that instant)', async () => {
        const ids: number[] = [];
        for (let i = 0; i < 7; i++) {
          ids.push((await event(i % 2 === 0 ? 'user_disabled' : 'user_enabled', 'b'.repeat(32))).id);
          clock += 1000;
        }
        const listed = (q: Omit<Parameters<UserStore['listAudit']>[0], 'limit'>, limit = 3) =>
          store.listAudit({ ...q, limit }).then((l) => l.map((e) => e.id));
        const newestFirst = [...ids].reverse();
        // Walking the pages with the last id of each reaches every event once, oldest included.
        const pages: number[][] = [];
        let before: number | undefined;
        for (;;) {
          const page = await listed(before === undefined ? {} : { before });
          if (page.length === 0) break;
          pages.push(page);
          before = page.at(-1);
        }
        expect(pages).toEqual([newestFirst.slice(0, 3), newestFirst.slice(3, 6), newestFirst.slice(6)]);
        // The same filters apply with the cursor, on the per-user path too.
        expect(await listed({ before: ids[5]!, type: 'user_disabled' }, 10)).toEqual([
          ids[4],
          ids[2],
          ids[0],
        ]);
        expect(await listed({ before: ids[5]!, user: 'b'.repeat(32) }, 2)).toEqual([ids[4], ids[3]]);
        expect(await listed({ before: ids[0]! }, 10)).toEqual([]);
        expect(await listed({ before: ids[6]! + 1000 }, 1)).toEqual([ids[6]]);
        // until is exclusive: [since, until) ranges side by side never share an event.
        expect(await listed({ until: new Date(T0 + 3000) }, 10)).toEqual([ids[2], ids[1], ids[0]]);
        expect(await listed({ since: new Date(T0 + 3000), until: new Date(T0 + 5000) }, 10)).toEqual([
          ids[4],
          ids[3],
        ]);
        expect(await listed({ user: 'b'.repeat(32), until: new Date(T0 + 1), before: ids[1]! }, 10)).toEqual([
          ids[0],
        ]);
        expect(await listed({ until: new Date(T0) }, 10)).toEqual([]);
      });

      it.each([0, -1, 1.5, Number.NaN, 2 ** 53])('refuses before %s as validation_failed', async (before) => {
        expect(await rejection(store.listAudit({ before, limit: 10 }))).toMatchObject({
          code: 'validation_failed',
        });
      });

      it('verifies an empty log and a sound chain, also after concurrent appends', async () => {
        expect(await store.verifyAudit()).toMatchObject({ ok: true });
        await Promise.all(Array.from({ length: 15 }, (_, i) => event('login', null, { i })));
        expect(await store.verifyAudit()).toMatchObject({ ok: true });
        const ids = (await store.listAudit({ limit: 100 })).map((e) => e.id).sort((x, y) => x - y);
        expect(ids).toEqual(Array.from({ length: 15 }, (_, i) => ids[0]! + i));
      });

      it('gives the head of a sound chain, and tells a recorded head kept from one cut off or written again', async () => {
        expect(await store.verifyAudit()).toEqual({ ok: true, head: null });
        for (let i = 0; i < 4; i++) await event('user_disabled', null, { reason: `r${i}` });
        const result = await store.verifyAudit();
        if (!result.ok || result.head === null) throw new Error('expected a sound chain with a head');
        const head = result.head;
        expect(head.id).toBe(4);
        expect(head.hash).toMatch(/^[0-9a-f]{64}$/);
        expect(await store.verifyAudit(head)).toEqual({ ok: true, head, expected_head: 'matches' });
        await event('user_enabled', null);
        // Later events leave a recorded head where it was.
        expect(await store.verifyAudit(head)).toMatchObject({ ok: true, expected_head: 'matches' });
        // The newest events cut off: the chain that is left is sound, only the recorded head shows it.
        await harness.exec('DELETE FROM audit_events WHERE id >= 4');
        expect(await store.verifyAudit()).toMatchObject({ ok: true, head: { id: 3 } });
        expect(await store.verifyAudit(head)).toMatchObject({ ok: true, expected_head: 'missing' });
        // ... and written again past it: another event now has the recorded id.
        await event('user_enabled', null);
        expect(await store.verifyAudit(head)).toMatchObject({
          ok: true,
          head: { id: 4 },
          expected_head: 'differs',
        });
        await harness.exec('DELETE FROM audit_events');
        expect(await store.verifyAudit(head)).toEqual({ ok: true, head: null, expected_head: 'missing' });
      });

      it('appendRecords writes login records and events in order, the events extending the chain', async () => {
        const dave = await newUser('dave@example.com');
        const first = await event('user_disabled', dave.id);
        const attempt = { email: 'dave@example.com', ip: '203.0.113.7', user_agent: 'UA/1', reason: null };
        await store.appendRecords([
          { kind: 'login', attempt: { ...attempt, user_id: dave.id, success: true } },
          {
            kind: 'audit',
            event: { type: 'login_success', user_id: dave.id, actor: null, ip: null, details: {} },
          },
          {
            kind: 'audit',
            event: { type: 'logout', user_id: dave.id, actor: null, ip: null, details: { n: 1 } },
          },
          {
            kind: 'login',
            attempt: { ...attempt, user_id: dave.id, success: false, reason: 'bad_password' },
          },
        ]);
        await store.appendRecords([]);
        const events = await store.listAudit({ user: dave.id, limit: 10 });
        expect(events.map((e) => [e.id, e.type])).toEqual([
          [first.id + 2, 'logout'],
          [first.id + 1, 'login_success'],
          [first.id, 'user_disabled'],
        ]);
        expect((await store.recentLogins(dave.id, 10)).map((r) => r.success).sort()).toEqual([false, true]);
        expect(await store.verifyAudit()).toMatchObject({ ok: true });
        // Batches and single appends share one chain.
        await event('user_enabled', dave.id);
        expect(await store.verifyAudit()).toMatchObject({ ok: true });
      });

      it('appendRecords is all or nothing: a batch with one bad entry leaves no row', async () => {
        const dave = await newUser('dave@example.com');
        const before = await store.listAudit({ limit: 10 });
        const good = { email: 'dave@example.com', ip: '203.0.113.7', user_agent: 'UA/1', reason: null };
        const bad = { ...good, email: null } as unknown as typeof good; // login_records.email is NOT NULL
        const err = await rejection(
          store.appendRecords([
            {
              kind: 'audit',
              event: { type: 'login_success', user_id: dave.id, actor: null, ip: null, details: {} },
            },
            { kind: 'login', attempt: { ...good, user_id: dave.id, success: true } },
            { kind: 'login', attempt: { ...bad, user_id: dave.id, success: true } },
          ]),
        );
        expect(err.code).toBe('internal_error');
        expect(await store.listAudit({ limit: 10 })).toEqual(before);
        expect(await store.recentLogins(dave.id, 10)).toEqual([]);
        expect(await store.verifyAudit()).toMatchObject({ ok: true });
      });

      it.each([
        [
          'details rewritten',
          'UPDATE audit_events SET details = \'{"reason":"nothing to see"}\' WHERE id = 2',
          2,
        ],
        ['type rewritten', "UPDATE audit_events SET type = 'login' WHERE id = 2", 2],
        ['time moved', 'UPDATE audit_events SET at = at + 1 WHERE id = 2', 2],
        ['actor erased', 'UPDATE audit_events SET actor = NULL WHERE id = 2', 2],
        ['event removed', 'DELETE FROM audit_events WHERE id = 2', 3, [2, 2]],
        ['first event removed', 'DELETE FROM audit_events WHERE id = 1', 2, [1, 1]],
        ['two events removed', 'DELETE FROM audit_events WHERE id IN (2, 3)', 4, [2, 3]],
        // Renumbered to hide the gap: the ids are hashed, so the moved event no longer matches its hash.
        [
          'event removed, the next renumbered',
          'DELETE FROM audit_events WHERE id = 2; UPDATE audit_events SET id = 2 WHERE id = 3',
          2,
        ],
        ['hash replaced', `UPDATE audit_events SET hash = '${'f'.repeat(64)}' WHERE id = 3`, 3],
      ] as Array<[string, string, number, [number, number]?]>)(
        'security: verifyAudit finds the first tampered event (%s), naming deleted ones as missing',
        async (_, sql, badId, missing) => {
          for (let i = 0; i < 4; i++) await event('user_disabled', null, { reason: `r${i}` });
          expect((await store.listAudit({ limit: 10 })).map((e) => e.id).sort()).toEqual([1, 2, 3, 4]);
          for (const statement of sql.split('; ')) await harness.exec(statement);
          expect(await store.verifyAudit()).toEqual({
            ok: false,
            first_bad_id: badId,
            missing: missing === undefined ? null : { from: missing[0], to: missing[1] },
          });
        },
      );
    });

    describe('health', () => {
      it('ping resolves while open; every call rejects with internal_error after close', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        await store.close();
        expect(await rejection(store.ping())).toMatchObject({ code: 'internal_error', status: 500 });
        expect(await rejection(store.findById('0'.repeat(32)))).toMatchObject({ code: 'internal_error' });
        await store.close(); // twice is harmless
      });
    });
  });
}
