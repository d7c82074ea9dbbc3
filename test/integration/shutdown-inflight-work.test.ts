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

// A hash of ≈ 0.5–1 s here: long enough to leave and shut down while it runs.
const SLOW_ARGON2 = 'passwords: { argon2: { memory_kib: 19456, iterations: 60, parallelism: 1 } }';
const PASSWORD = 'correct horse battery staple 9';

let dir: string | undefined;
let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.shutdown();
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

describe('shutdown and the work of requests whose client left', () => {
  it('a login whose client disconnected mid-hash completes before the services close', async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-shutdown-'));
    gw = await startTestGateway(`${SLOW_ARGON2}\nroutes: []\n`, { dir });
    const origin = `http://127.0.0.1:${gw.port}`;
    const email = 'leaver@example.com';
    const registered = await fetch(`${origin}/api/auth/register`, {
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
    const userId = ((await registered.json()) as { data: { id: string } }).data.id;

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
});
