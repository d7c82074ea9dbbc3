import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { runCli } from '../helpers.js';
import {
  auditTypes,
  expectFailure,
  intHeader,
  loginFrom,
  loginOk,
  operations,
  PASSWORD,
  type Reply,
  redisDb,
  registerOk,
  send,
  sleep,
  startRedisGateway,
  WRONG,
} from './support.js';

let redis: RedisServer;
const started: TestGateway[] = [];

async function gateway(db: number, bruteForce: string): Promise<TestGateway> {
  const g = await startRedisGateway({ redis: redis.url, db, bruteForce });
  started.push(g);
  return g;
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(started.map((g) => g.stop()));
  await redis?.stop();
});

function expectLocked(reply: Reply, maxWaitS: number): void {
  expectFailure(reply, 429, 'account_locked');
  const wait = intHeader(reply, 'retry-after');
  expect(wait).toBeGreaterThanOrEqual(1);
  expect(wait).toBeLessThanOrEqual(maxWaitS);
}

/** Runs the operator CLI against the gateway's stores (same SQLite file, same Redis database). */
async function cli(
  g: TestGateway,
  db: number,
  ...args: string[]
): Promise<{ code: number | null; out: string }> {
  const file = join(g.dir, 'cli.yaml');
  writeFileSync(
    file,
    `storage: { users: "sqlite:${join(g.dir, 'users.db')}", state: "${redisDb(redis.url, db)}" }
tokens: { secret: "test-secret-that-is-at-least-32-bytes-long!!" }
brute_force: { ${bruteForceOf(g)} }
`,
  );
  const { code, out, err } = await runCli('user', ...args, '--config', file);
  return { code, out: out + err };
}

/** The CLI must count with the same limits as the gateway: its limiter keys include nothing else. */
function bruteForceOf(g: TestGateway): string {
  const b = g.config.brute_force;
  return `failure_limit: ${b.failure_limit}, account_failure_limit: ${b.account_failure_limit}, cooloff: ${b.cooloff / 1000}s`;
}

describe('(email, client IP) pairs', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await gateway(0, 'failure_limit: 5');
  });

  it('locking (victim, 127.0.0.2) leaves (victim, 127.0.0.3) free; the locked pair gets 429 account_locked whatever the password', async () => {
    const { email } = await registerOk(g);
    for (let i = 0; i < 5; i++)
      expectFailure(await loginFrom(g, email, WRONG, { from: '127.0.0.2' }), 401, 'invalid_credentials');
    const wrong = await loginFrom(g, email, WRONG, { from: '127.0.0.2' });
    const right = await loginFrom(g, email, PASSWORD, { from: '127.0.0.2' });
    expectLocked(wrong, 3600);
    expectLocked(right, 3600);
    // Nothing in the answer tells a right password from a wrong one.
    expect(right.body).toEqual(wrong.body);
    expect(Math.abs(intHeader(right, 'retry-after') - intHeader(wrong, 'retry-after'))).toBeLessThanOrEqual(
      1,
    );

    await loginOk(g, email, PASSWORD, { from: '127.0.0.3' });
    expectFailure(await loginFrom(g, email, WRONG, { from: '127.0.0.3' }), 401, 'invalid_credentials');
    // The stranger's lock is still there after the owner's success elsewhere.
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.0.2' }), 3600);
  });

  it('20 concurrent wrong passwords from one IP: never more than failure_limit 401s, the rest 429', async () => {
    const { email } = await registerOk(g);
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => loginFrom(g, email, WRONG, { from: '127.0.0.4' })),
    );
    const codes = replies.map((r) => `${r.status} ${r.body?.code}`);
    const unauthorized = codes.filter((c) => c === '401 invalid_credentials').length;
    const locked = codes.filter((c) => c === '429 account_locked').length;
    expect(unauthorized).toBeLessThanOrEqual(5);
    expect(unauthorized + locked).toBe(20);
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.0.4' }), 3600);
  });

  it("20 concurrent logins mixing the owner's right password with wrong ones: at most failure_limit wrong ones per success", async () => {
    const { email } = await registerOk(g);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        loginFrom(g, email, i % 4 === 0 ? PASSWORD : WRONG, { from: '127.0.0.5' }),
      ),
    );
    for (const r of replies) expect([200, 401, 429]).toContain(r.status);
    // reset_on_success: each success starts the pair's count again, nothing more.
    const successes = replies.filter((r) => r.status === 200).length;
    const failures = replies.filter((r) => r.status === 401).length;
    expect(failures).toBeLessThanOrEqual(5 * (successes + 1));
  });
});

describe('account-wide limit (failure_limit 3, account_failure_limit 8)', () => {
  it('distributed failures lock new devices only; a known device logs in; unlock clears every lock of the email', async () => {
    const db = 1;
    const g = await gateway(db, 'failure_limit: 3, account_failure_limit: 8');
    const { id, email } = await registerOk(g);
    // The owner's earlier login gives this device its device_token.
    const owner = await loginOk(g, email, PASSWORD, { from: '127.0.0.20' });
    expect(owner.device_token).toEqual(expect.any(String));

    const attackers = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
    let failures = 0;
    for (const from of attackers) {
      for (let i = 0; i < 3 && failures < 8; i++, failures++)
        expectFailure(await loginFrom(g, email, WRONG, { from }), 401, 'invalid_credentials');
    }
    // 8 failures from three addresses: each pair but the last is locked, and so is the account.
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.0.14' }), 3600);
    expectLocked(await loginFrom(g, email, WRONG, { from: '127.0.0.13' }), 3600);

    // A known device (the device_token of an earlier success) is not held by the account-wide lock...
    const known = await loginOk(g, email, PASSWORD, { from: '127.0.0.14', device_token: owner.device_token });
    expect(known.access).toEqual(expect.any(String));
    // ...but a device token issued for another email does not help.
    const other = await registerOk(g);
    const otherDevice = (await loginOk(g, other.email, PASSWORD, { from: '127.0.0.15' })).device_token;
    expectLocked(
      await loginFrom(g, email, PASSWORD, { from: '127.0.0.15', device_token: otherDevice }),
      3600,
    );
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.0.15', device_token: 'garbage' }), 3600);
    // ...and a known device still has its own (email, IP) counter.
    expectLocked(
      await loginFrom(g, email, PASSWORD, { from: '127.0.0.11', device_token: owner.device_token }),
      3600,
    );

    // `portcullis user unlock` against the same stores clears the account lock and every pair.
    const run = await cli(g, db, 'unlock', email);
    expect(run.code, run.out).toBe(0);
    await loginOk(g, email, PASSWORD, { from: '127.0.0.16' });
    for (const from of attackers) await loginOk(g, email, PASSWORD, { from });
    await g.services.audit.flush();
    expect(await auditTypes(g)).toEqual(expect.arrayContaining(['lockout', 'login_failure']));
    // The CLI wrote its own unlock event in the same audit chain.
    expect((await g.services.users.listAudit({ user: id, type: 'unlock', limit: 10 })).length).toBe(1);
  });

  it('attempts at a locked pair do not count against the account-wide limit', async () => {
    const g = await gateway(5, 'failure_limit: 3, account_failure_limit: 8');
    const { email } = await registerOk(g);
    for (let i = 0; i < 3; i++)
      expectFailure(await loginFrom(g, email, WRONG, { from: '127.0.0.41' }), 401, 'invalid_credentials');
    // Ten more at the locked pair, sequential and concurrent: refused without touching the account's count.
    for (let i = 0; i < 5; i++) expectLocked(await loginFrom(g, email, WRONG, { from: '127.0.0.41' }), 3600);
    const burst = await Promise.all(
      Array.from({ length: 5 }, () => loginFrom(g, email, WRONG, { from: '127.0.0.41' })),
    );
    for (const r of burst) expectLocked(r, 3600);
    // The account has 3 of its 8: four more failures elsewhere (two pairs), then the owner still gets in.
    for (const from of ['127.0.0.42', '127.0.0.42', '127.0.0.43', '127.0.0.43'])
      expectFailure(await loginFrom(g, email, WRONG, { from }), 401, 'invalid_credentials');
    await loginOk(g, email, PASSWORD, { from: '127.0.0.44' });
  });

  it('20 concurrent wrong passwords from 20 addresses: never more than account_failure_limit 401s', async () => {
    const g = await gateway(4, 'failure_limit: 3, account_failure_limit: 8');
    const { email } = await registerOk(g);
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => loginFrom(g, email, WRONG, { from: `127.0.1.${10 + i}` })),
    );
    const codes = replies.map((r) => `${r.status} ${r.body?.code}`);
    expect(codes.filter((c) => c === '401 invalid_credentials').length).toBeLessThanOrEqual(8);
    expect(codes.filter((c) => c === '429 account_locked').length).toBeGreaterThanOrEqual(12);
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.1.99' }), 3600);
  });

  it('operations.unlock (the admin API path) clears the pair and account locks too', async () => {
    const g = await gateway(2, 'failure_limit: 3, account_failure_limit: 4');
    const { id, email } = await registerOk(g);
    for (const from of ['127.0.0.31', '127.0.0.31', '127.0.0.31', '127.0.0.32'])
      expectFailure(await loginFrom(g, email, WRONG, { from }), 401, 'invalid_credentials');
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.0.31' }), 3600);
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.0.33' }), 3600);
    await operations(g).unlock(id, { name: 'test', ip: null });
    await loginOk(g, email, PASSWORD, { from: '127.0.0.31' });
    await loginOk(g, email, PASSWORD, { from: '127.0.0.33' });
  });
});

describe('unlock does not shorten later locks', () => {
  it('a lock made after an unlock lasts its full cool-off', async () => {
    const g = await gateway(3, 'failure_limit: 2, cooloff: 2s');
    const { id, email } = await registerOk(g);
    const ops = operations(g);
    await ops.unlock(id, { name: 'test', ip: null });
    // The unlock's bookkeeping must not expire under a lock made later (here: 3 s after it).
    await sleep(2_700);
    for (let i = 0; i < 2; i++)
      expectFailure(await loginFrom(g, email, WRONG, { from: '127.0.0.41' }), 401, 'invalid_credentials');
    const lockedAt = Date.now();
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.0.41' }), 2);
    await sleep(Math.max(0, lockedAt + 1_600 - Date.now()));
    expectLocked(await loginFrom(g, email, PASSWORD, { from: '127.0.0.41' }), 2);
  });
});

describe('a right password whose lock reset fails', () => {
  it('still logs in, and the count stays where it was: a failed reset only makes the lock stricter', async () => {
    const db = 6;
    const g = await gateway(db, 'failure_limit: 5, account_failure_limit: 50');
    const { email } = await registerOk(g);
    const accountCount = `pc:rl:bf-account:${email}`;
    // SET refused on every key but the refresh index: the account-wide attempt's refund (SET NX, then
    // INCRBY -1) fails inside its script, while the login's counts, session and refresh index go in.
    await redisCli(redis.port, 'ACL', 'SETUSER', 'default', '-set', '(+set ~pc:r:*)');
    try {
      const session = await loginOk(g, email, PASSWORD, { from: '127.0.0.50' });
      // Counted before the password was checked and never given back.
      expect((await redisCli(redis.port, '-n', String(db), 'GET', accountCount)).trim()).toBe('1');
      // The session the login opened is a working one.
      const me = await send(g, 'GET', '/api/users/me', { token: session.access });
      expect(me.status, me.text).toBe(200);
    } finally {
      await redisCli(redis.port, 'ACL', 'SETUSER', 'default', 'clearselectors', '+@all');
    }
    // With the store whole again, a success gives its attempt back as before.
    await loginOk(g, email, PASSWORD, { from: '127.0.0.50' });
    expect((await redisCli(redis.port, '-n', String(db), 'GET', accountCount)).trim()).toBe('1');
  });
});
