// The account-flow data (verified address, TOTP, recovery codes, single-use tokens) on both user-store
// backends: the same cases against a real SQLite file and a fresh PostgreSQL database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresUserStore } from '../../../gateway/users/postgres-store.js';
import { createSqliteUserStore } from '../../../gateway/users/sqlite-store.js';
import type { UserStore, UserStoreOptions } from '../../../gateway/users/user-store.js';
import { createTestDatabase } from './postgres-harness.js';

type Open = (options: UserStoreOptions) => Promise<{ store: UserStore; cleanup: () => Promise<void> }>;

const backends: [string, Open][] = [
  [
    'sqlite',
    async (options) => {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-account-data-'));
      const store = createSqliteUserStore(join(dir, 'users.db'), options);
      return {
        store,
        cleanup: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'postgres',
    async (options) => {
      const db = await createTestDatabase();
      const store = await createPostgresUserStore(db.url, options);
      return {
        store,
        cleanup: async () => {
          await store.close();
          await db.drop();
        },
      };
    },
  ],
];

describe.each(backends)('account data: %s', (_name, open) => {
  let clock = 1_700_000_000_000;
  let store: UserStore;
  let cleanup: () => Promise<void>;
  let userId: string;

  beforeEach(async () => {
    clock = 1_700_000_000_000;
    ({ store, cleanup } = await open({ now: () => clock }));
    const user = await store.createUser({
      email: 'Ada@Example.com',
      first_name: 'Ada',
      last_name: 'L',
      password_hash: '$h$',
    });
    userId = user.id;
  });
  afterEach(() => cleanup());

  it('answers the defaults for a user with no row, and keeps the verified address canonical', async () => {
    const data = store.accountData;
    expect(await data.security(userId)).toEqual({
      verified_email: null,
      totp_secret: null,
      totp_pending: null,
      reset_required: false,
    });
    await data.setVerifiedEmail(userId, ' ADA@example.COM ');
    await data.setResetRequired(userId, true);
    expect(await data.security(userId)).toMatchObject({
      verified_email: 'ada@example.com',
      reset_required: true,
    });
  });

  it('enables TOTP only with the pending secret it was confirmed against', async () => {
    const data = store.accountData;
    await data.setTotpPending(userId, 'sealed-1');
    // Another enroll replaced the pending secret before this confirm landed: nothing changes.
    await data.setTotpPending(userId, 'sealed-2');
    expect(await data.enableTotp(userId, 'sealed-1', ['a', 'b'])).toBe(false);
    expect(await data.recoveryCodesLeft(userId)).toBe(0);
    expect((await data.security(userId)).totp_secret).toBeNull();

    expect(await data.enableTotp(userId, 'sealed-2', ['a', 'b', 'c'])).toBe(true);
    expect(await data.security(userId)).toMatchObject({ totp_secret: 'sealed-2', totp_pending: null });
    expect(await data.recoveryCodesLeft(userId)).toBe(3);
  });

  it('lists sealed TOTP secrets and replaces one only while it is still the value it was read as', async () => {
    expect(await store.accountData.sealedTotp()).toEqual([]);
    await store.accountData.setTotpPending(userId, 'sealed-1');
    expect(await store.accountData.enableTotp(userId, 'sealed-1', ['h1'])).toBe(true);
    await store.accountData.setTotpPending(userId, 'pending-1');
    expect(await store.accountData.sealedTotp()).toEqual([
      { user_id: userId, totp_secret: 'sealed-1', totp_pending: 'pending-1' },
    ]);
    expect(await store.accountData.replaceSealedTotp(userId, 'totp_secret', 'sealed-1', 'sealed-2')).toBe(
      true,
    );
    // Read before that replace (another replica's sweep): refused, the newer value stays.
    expect(await store.accountData.replaceSealedTotp(userId, 'totp_secret', 'sealed-1', 'sealed-3')).toBe(
      false,
    );
    expect(await store.accountData.replaceSealedTotp(userId, 'totp_pending', 'pending-1', 'pending-2')).toBe(
      true,
    );
    expect(await store.accountData.security(userId)).toMatchObject({
      totp_secret: 'sealed-2',
      totp_pending: 'pending-2',
    });
    await store.accountData.disableTotp(userId);
    expect(await store.accountData.sealedTotp()).toEqual([]);
  });

  it('spends a recovery code exactly once, even when two callers race', async () => {
    const data = store.accountData;
    await data.setTotpPending(userId, 's');
    await data.enableTotp(userId, 's', ['code-a', 'code-b']);
    const raced = await Promise.all([
      data.useRecoveryCode(userId, 'code-a'),
      data.useRecoveryCode(userId, 'code-a'),
    ]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await data.useRecoveryCode(userId, 'code-a')).toBe(false);
    expect(await data.useRecoveryCode('f'.repeat(32), 'code-b')).toBe(false);
    expect(await data.recoveryCodesLeft(userId)).toBe(1);
    await data.disableTotp(userId);
    expect(await data.useRecoveryCode(userId, 'code-b')).toBe(false);
    expect((await data.security(userId)).totp_secret).toBeNull();
  });

  it('consumes a token once, only for its purpose and before it expires', async () => {
    const data = store.accountData;
    const token = {
      user_id: userId,
      purpose: 'password_reset',
      data: '{}',
      expires_at: clock + 60_000,
    } as const;
    await data.saveToken('h1', token);
    await data.saveToken('h2', token);
    expect(await data.consumeToken('h1', 'verify_email')).toBeNull();
    expect(await data.findToken('h1', 'password_reset')).toEqual(token);
    const raced = await Promise.all([
      data.consumeToken('h1', 'password_reset'),
      data.consumeToken('h1', 'password_reset'),
    ]);
    expect(raced.filter((t) => t !== null)).toEqual([token]);
    expect(await data.consumeToken('h1', 'password_reset')).toBeNull();
    clock += 60_000;
    expect(await data.findToken('h2', 'password_reset')).toBeNull();
    expect(await data.consumeToken('h2', 'password_reset')).toBeNull();
  });

  it('voids every unused token of a user for one purpose', async () => {
    const data = store.accountData;
    const at = clock + 60_000;
    await data.saveToken('r1', { user_id: userId, purpose: 'password_reset', data: '{}', expires_at: at });
    await data.saveToken('r2', { user_id: userId, purpose: 'password_reset', data: '{}', expires_at: at });
    await data.saveToken('v1', { user_id: userId, purpose: 'verify_email', data: '{}', expires_at: at });
    expect(await data.voidTokens(userId, 'password_reset')).toBe(2);
    expect(await data.consumeToken('r2', 'password_reset')).toBeNull();
    expect(await data.consumeToken('v1', 'verify_email')).not.toBeNull();
  });

  it('changes the address with its canonical form, and refuses one another account has', async () => {
    const other = await store.createUser({
      email: 'grace@example.com',
      first_name: 'G',
      last_name: 'H',
      password_hash: '$h$',
    });
    await store.accountData.changeEmail(userId, ' New@Example.com ');
    const moved = await store.findByEmail('new@example.com');
    expect(moved).toMatchObject({ id: userId, email: 'New@Example.com', email_canonical: 'new@example.com' });
    await expect(store.accountData.changeEmail(userId, 'GRACE@example.com')).rejects.toMatchObject({
      code: 'email_taken',
      status: 409,
    });
    expect((await store.findById(other.id))?.email).toBe('grace@example.com');
  });
});
