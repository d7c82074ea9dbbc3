// Logins whose clients leave before their hash starts: under a flood the hashing threads fall behind, and
// every abandoned login used to be hashed, counted and recorded anyway (600 abandoned logins from 75
// addresses made the next real login wait 18 s). Now its hash is dropped unstarted, its brute-force
// counts are given back and no login record is written. Real Argon2 costs, big enough that the threads
// are still busy when the clients leave (a loaded CI machine makes them slower still: 120 s allowed).
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { waitFor } from '../helpers.js';
import { db, login, loginOk, newUser, register, startAccountsGateway } from './support.js';

let gw: TestGateway;
const ABANDONED = 24;
// Above the flood, so no attempt of it is refused by the count itself (attempts are counted as they begin).
const FAILURE_LIMIT = ABANDONED + 2;
const MORE_FAILURES = 5;

beforeAll(async () => {
  gw = await startAccountsGateway({
    fastHash: false,
    passwords: 'argon2: { memory_kib: 131072, iterations: 4, parallelism: 1 }',
    yaml: `
rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  login: { per_email: 1000/m, per_ip: 1000/m }
  register: { per_email: 1000/m, per_ip: 1000/m }
brute_force: { failure_limit: ${FAILURE_LIMIT}, account_failure_limit: 1000, cooloff: 1h }`,
    openLimits: false,
  });
});

afterAll(async () => {
  await gw?.stop();
});

/** Sends a login and closes the connection after `ms`, before any answer could come. */
function abandonedLogin(email: string, ms: number): Promise<void> {
  const body = JSON.stringify({ email, password: 'not-the-password-at-all' });
  return new Promise((resolve) => {
    const socket = connect(gw.port, '127.0.0.1', () => {
      socket.write(
        `POST /api/auth/login HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, ms);
    });
    socket.on('error', () => undefined);
  });
}

it(`security: ${ABANDONED} logins abandoned before their hash started are neither hashed, counted nor recorded: the owner is not locked out`, {
  timeout: 120_000,
}, async () => {
  const user = newUser();
  expect((await register(gw, user)).status).toBe(201);
  await Promise.all(Array.from({ length: ABANDONED }, () => abandonedLogin(user.email, 100)));
  await waitFor(() => gw.inFlight() === 0, 30_000, 'the abandoned logins to settle');
  const recorded = Number(
    db(
      gw,
      "SELECT count(*) AS n FROM login_records WHERE email = ? AND reason = 'bad_password'",
      user.email,
    )[0]!.n,
  );
  // Only those a thread had already taken (two per thread) or that started before their client left.
  expect(recorded).toBeGreaterThan(0);
  expect(recorded + MORE_FAILURES).toBeLessThan(FAILURE_LIMIT);
  // Dropped by the hasher (a request its client left before the gateway read it never got that far).
  const dropped = gw.logs.filter((l) => l.code === 'overloaded').length;
  expect(dropped).toBeGreaterThan(0);
  expect(dropped).toBeLessThanOrEqual(ABANDONED - recorded);
  // Before: each abandoned login was a counted failure, so a few more wrong passwords locked the
  // (email, address) pair for an hour and the right one was refused.
  for (let i = 0; i < MORE_FAILURES; i++)
    expect((await login(gw, user.email, 'still-not-it-at-all')).status).toBe(401);
  await loginOk(gw, user.email, user.password);
});
