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

async function get(origin, path, token, extra = {}) {
  const headers = { 'user-agent': BENCH_UA, ...extra };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${origin}${path}`, { headers });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

function expect401(what, r) {
  if (r.status !== 401) throw new Error(`${what}: expected 401, got ${r.status} ${r.body.slice(0, 200)}`);
}

/** Up to five users from across `users` (the last included): the checks' sample of the load's tokens. */
export function spread(users) {
  if (users.length <= 1) return [];
  const picks = new Set([1, 2, 3, 4].map((q) => Math.floor((q * (users.length - 1)) / 4)));
  return [...picks].filter((i) => i > 0).map((i) => users[i]);
}

/** A client's own X-User-Id: a contender must replace it, never pass it on or add to it. */
const SPOOFED = { 'x-user-id': 'spoofed-by-the-client' };

/**
 * The checks every authenticating contender must pass, the same for Portcullis and its peers:
 * - a valid token reaches the upstream (200, upstream body) with the user's id in X-User-Id there, for
 *   `valid` and for each user of `sample` (tokens from across the load's list), even when the client
 *   sends an X-User-Id of its own;
 * - the rate limit counts: a second request with the same token has a lower RateLimit-Remaining;
 * - no token, a forged token (right claims, wrong key), a revoked token and a token whose session a
 *   newer login replaced (the single-session lookup) are 401.
 * @param origin http://host:port of the contender
 * @param valid { token, userId } a live token and the id the upstream must see
 * @param sample [{ token, userId }] more live tokens of the load
 * @param revoke async () → token: makes a token, checks it works, revokes it by the stack's own means
 * @param replace async () → token: makes a token, checks it works, then starts a newer session of the
 *   same user by the stack's own means (a second login)
 */
export async function expectAuthChecks(origin, { valid, sample = [], revoke, replace }) {
  await expectUpstreamBody(`${origin}/`, {
    headers: { authorization: `Bearer ${valid.token}`, 'user-agent': BENCH_UA },
  });
  for (const user of [valid, ...sample]) {
    const seen = await get(origin, IDENTITY_PATH, user.token, SPOOFED);
    if (seen.status !== 200 || seen.body !== user.userId) {
      throw new Error(
        `identity: the upstream saw X-User-Id ${JSON.stringify(seen.body.slice(0, 100))} (status ${seen.status}), expected ${user.userId}`,
      );
    }
  }
  const remaining = async () => {
    const r = await get(origin, '/', valid.token);
    const n = Number(r.headers.get('ratelimit-remaining'));
    if (r.status !== 200 || !Number.isInteger(n))
      throw new Error(
        `rate limit: status ${r.status}, RateLimit-Remaining ${r.headers.get('ratelimit-remaining')}`,
      );
    return n;
  };
  // The lifted limits count per second: two requests may straddle a window's end (under callgrind each
  // takes long), and the count then starts over. Three pairs that all straddle one are not a chance.
  for (let attempt = 1; ; attempt++) {
    const first = await remaining();
    const second = await remaining();
    if (second < first) break;
    if (attempt === 3)
      throw new Error(
        `rate limit: RateLimit-Remaining went from ${first} to ${second} three times; the request was not counted`,
      );
  }
  expect401('no token', await get(origin, '/'));
  expect401('forged token', await get(origin, '/', forgeToken(valid.token)));
  expect401('revoked token', await get(origin, '/', await revoke()));
  expect401('replaced session', await get(origin, '/', await replace()));
}

/** For `revoke` callbacks: the token must work before it is revoked, or the 401 proves nothing. */
export async function expectAcceptedToken(origin, token) {
  const r = await get(origin, '/', token);
  if (r.status !== 200)
    throw new Error(`token before revocation: expected 200, got ${r.status} ${r.body.slice(0, 200)}`);
}

async function getDpop(origin, path, { token, proof }) {
  const headers = { 'user-agent': BENCH_UA };
  if (token !== undefined) headers.authorization = `DPoP ${token}`;
  if (proof !== undefined) headers.dpop = proof;
  const res = await fetch(`${origin}${path}`, { headers });
  return { status: res.status, body: await res.text() };
}

/**
 * The checks of a DPoP-bound contender (`device_binding.mode: dpop`): a token with a fresh proof by its
 * key reaches the upstream (200, upstream body) with the user's id in X-User-Id there; the same token
 * with no proof, a forged token (right claims, wrong key) with a valid proof for it, a revoked session's
 * token with a fresh proof, and a proof sent a second time are all 401.
 * @param valid { token, userId, key } a live token of a user the load will use, and its key
 * @param proofFor (key, method, url, token) → a fresh proof
 * @param newUser async () → { token, key }: another user, logged in with its own key; the refusals are
 *   tried on these (a replayed proof ends the session it belongs to under `on_mismatch: revoke`)
 * @param revoke async (user) → ends that user's session by the gateway's own means (logout)
 */
export async function expectDpopChecks(origin, { valid, proofFor, newUser, revoke }) {
  const send = (path, token, key) =>
    getDpop(origin, path, { token, proof: proofFor(key, 'GET', `${origin}${path}`, token) });
  const first = await send('/', valid.token, valid.key);
  if (first.status !== 200 || first.body !== PAYLOAD)
    throw new Error(
      `DPoP GET / answered ${first.status} ${JSON.stringify(first.body.slice(0, 200))}; expected 200 and the upstream's body`,
    );
  const seen = await send(IDENTITY_PATH, valid.token, valid.key);
  if (seen.status !== 200 || seen.body !== valid.userId) {
    throw new Error(
      `identity: the upstream saw X-User-Id ${JSON.stringify(seen.body.slice(0, 100))} (status ${seen.status}), expected ${valid.userId}`,
    );
  }
  const other = await newUser();
  expect401('no token', await getDpop(origin, '/', {}));
  expect401('DPoP token without a proof', await getDpop(origin, '/', { token: other.token }));
  const forged = forgeToken(other.token);
  expect401('forged token with a valid proof', await send('/', forged, other.key));
  const before = await send('/', other.token, other.key);
  if (before.status !== 200)
    throw new Error(
      `token before revocation: expected 200, got ${before.status} ${before.body.slice(0, 200)}`,
    );
  await revoke(other);
  expect401('revoked session with a fresh proof', await send('/', other.token, other.key));
  const victim = await newUser();
  const proof = proofFor(victim.key, 'GET', `${origin}/`, victim.token);
  const once = await getDpop(origin, '/', { token: victim.token, proof });
  if (once.status !== 200)
    throw new Error(`a fresh proof: expected 200, got ${once.status} ${once.body.slice(0, 200)}`);
  expect401('replayed proof', await getDpop(origin, '/', { token: victim.token, proof }));
}
