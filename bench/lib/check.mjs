// Correctness checks run on every contender before it is timed: a figure for a proxy that answers
// wrongly is worthless. It only asserts; it does not start or time anything.
import { BENCH_UA } from './accounts.mjs';
import { forgeToken } from './jwt.mjs';
import { IDENTITY_PATH, PAYLOAD } from './payload.mjs';

/** GET `url` must answer 200 with exactly the upstream's body. */
export async function expectUpstreamBody(url, { headers } = {}) {
  const res = await fetch(url, { headers });
  const body = await res.text();
  if (res.status !== 200 || body !== PAYLOAD) {
    throw new Error(
      `GET ${url} answered ${res.status} ${JSON.stringify(body.slice(0, 200))}; expected 200 and the upstream's body`,
    );
  }
}

async function get(origin, path, token) {
  const headers = { 'user-agent': BENCH_UA };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${origin}${path}`, { headers });
  return { status: res.status, body: await res.text() };
}

function expect401(what, r) {
  if (r.status !== 401) throw new Error(`${what}: expected 401, got ${r.status} ${r.body.slice(0, 200)}`);
}

/**
 * The checks every authenticating contender must pass, the same for Portcullis and its peers:
 * a valid token reaches the upstream (200, upstream body) with the user's id in X-User-Id there;
 * no token, a forged token (right claims, wrong key) and a revoked token are 401.
 * @param origin http://host:port of the contender
 * @param valid { token, userId } a live token and the id the upstream must see
 * @param revoke async () → token: makes a token, checks it works, revokes it by the stack's own means
 */
export async function expectAuthChecks(origin, { valid, revoke }) {
  await expectUpstreamBody(`${origin}/`, {
    headers: { authorization: `Bearer ${valid.token}`, 'user-agent': BENCH_UA },
  });
  const seen = await get(origin, IDENTITY_PATH, valid.token);
  if (seen.status !== 200 || seen.body !== valid.userId) {
    throw new Error(
      `identity: the upstream saw X-User-Id ${JSON.stringify(seen.body.slice(0, 100))} (status ${seen.status}), expected ${valid.userId}`,
    );
  }
  expect401('no token', await get(origin, '/'));
  expect401('forged token', await get(origin, '/', forgeToken(valid.token)));
  const revoked = await revoke();
  expect401('revoked token', await get(origin, '/', revoked));
}

/** For `revoke` callbacks: the token must work before it is revoked, or the 401 proves nothing. */
export async function expectAcceptedToken(origin, token) {
  const r = await get(origin, '/', token);
  if (r.status !== 200)
    throw new Error(`token before revocation: expected 200, got ${r.status} ${r.body.slice(0, 200)}`);
}
