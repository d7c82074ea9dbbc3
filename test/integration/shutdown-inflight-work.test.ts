// Shutdown waits for the work of a request whose client already left: the services (hasher, user store,
// state store) are closed only after every handler has settled, bounded by shutdown_timeout.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteUserStore } from '../../gateway/users/sqlite-store.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RedisServer, redisCli, startRedis } from '../support/redis.js';

// A hash of ≈ 0.5–1 s here: long enough to leave and shut down while it runs.
const SLOW_ARGON2 = 'passwords: { argon2: { memory_kib: 19456, iterations: 60, parallelism: 1 } }';
const PASSWORD = 'correct horse battery staple 9';

let dir: string | undefined;
let gw: TestGateway | undefined;
let redis: RedisServer | undefined;
afterEach(async () => {
  await gw?.shutdown();
  await redis?.stop();
  redis = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Sends a whole login request on a raw socket and returns the socket (nothing reads the answer). */
function sendLogin(port: number, email: string): Promise<ReturnType<typeof connect>> {
  const body = JSON.stringify({ email, password: PASSWORD });
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      socket.write(
        `POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `User-Agent: leaving-client\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

async function register(port: number, email: string): Promise<string> {
  const registered = await fetch(`http://127.0.0.1:${port}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email,
      password: PASSWORD,
      password_confirm: PASSWORD,
      first_name: 'Lea',
      last_name: 'Ver',
    }),
  });
  expect(registered.status).toBe(201);
  return ((await registered.json()) as { data: { id: string } }).data.id;
}

describe('shutdown and the work of requests whose client left', () => {
  it('a login whose client disconnected mid-hash completes before the services close', async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-shutdown-'));
    gw = await startTestGateway(`${SLOW_ARGON2}\nroutes: []\n`, { dir });
    const email = 'leaver@example.com';
    const userId = await register(gw.port, email);

    const socket = await sendLogin(gw.port, email);
    await sleep(60); // the body is read and the hash is running
    socket.destroy(); // the client gives up
    await sleep(30); // its response has closed
    const { logs } = gw;
    await gw.shutdown();
    gw = undefined;

    expect(logs.filter((l) => l.msg === 'request failed')).toEqual([]);
    // The login ran to its end: its record is in the login history.
    const store = createSqliteUserStore(join(dir, 'users.db'));
    try {
      const logins = await store.recentLogins(userId, 10);
      expect(logins.map((l) => l.success)).toEqual([true]);
    } finally {
      await store.close();
    }
  });

  it('a login whose client left while its Redis check waited settles: shutdown does not wait for it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-shutdown-'));
    redis = await startRedis();
    gw = await startTestGateway('routes: []\n', {
      dir,
      base: { state: redis.url, server: 'shutdown_timeout: 20s' },
    });
    await register(gw.port, 'early-leaver@example.com');
    // Redis holds every command for 300 ms: the login waits in its rate-limit check, the client leaves,
    // and only then does the handler come to read the body of a request whose connection is gone.
    await redisCli(redis.port, 'CLIENT', 'PAUSE', '300', 'ALL');
    const socket = await sendLogin(gw.port, 'early-leaver@example.com');
    await sleep(100);
    socket.destroy();
    await sleep(400); // the pause is over; the handler has tried to read the body
    const started = performance.now();
    await gw.shutdown();
    gw = undefined;
    // Before, the handler waited for good on a body that never came, and the drain for shutdown_timeout.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
