// Creates bench users on a running Portcullis through its own HTTP endpoints (register, login,
// logout) and writes their access tokens to a file for wrk. It times nothing; the login suite does.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { decodeClaims } from './jwt.mjs';

/** Every bench request and login sends this User-Agent: the gateway binds tokens to it. */
export const BENCH_UA = 'portcullis-bench/1.0';

/** A password the gateway's policy accepts (long, not common, not numeric, unlike any email or name). */
// No digits and no 'u' in the random part: the policy refuses a password containing a part of the
// email (`u123.portcullis-dpop@…`), and one shared password against 1,000 such emails hit that by
// chance in a few percent of runs.
export const benchPassword = () =>
  `Pb!${randomBytes(12)
    .toString('base64url')
    .replace(/[0-9uU]/g, 'k')}-7q`;

async function postJson(origin, path, body, headers = {}) {
  const res = await fetch(`${origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': BENCH_UA, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Reported below with the raw text.
  }
  return { status: res.status, json, text };
}

function expectStatus(what, r, status) {
  if (r.status !== status)
    throw new Error(`${what}: expected ${status}, got ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

export async function register(origin, email, password, i = 0) {
  const r = await postJson(origin, '/api/auth/register', {
    email,
    password,
    password_confirm: password,
    first_name: 'Bench',
    last_name: `Tester${i}`,
  });
  return expectStatus(`register ${email}`, r, 201).data;
}

/** POST login; returns { status, data } without throwing, for the timed suites. */
export async function tryLogin(origin, email, password) {
  const r = await postJson(origin, '/api/auth/login', { email, password });
  return { status: r.status, data: r.json?.data ?? null };
}

/** `headers`: extra request headers (a DPoP proof). */
export async function login(origin, email, password, headers = {}) {
  const r = await postJson(origin, '/api/auth/login', { email, password }, headers);
  return expectStatus(`login ${email}`, r, 200).data;
}

/** `headers` replace the Bearer authorization (DPoP: `authorization: DPoP …` and a proof). */
export async function logout(origin, access, headers = { authorization: `Bearer ${access}` }) {
  const r = await postJson(origin, '/api/auth/logout', undefined, headers);
  expectStatus('logout', r, 200);
}

/** Runs `fn(i)` for i in 0..count-1 with at most `concurrency` in flight; results in order. */
export async function inPool(count, concurrency, fn) {
  const out = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

/**
 * Registers and logs in `count` users named after `tag`; writes their access tokens, one per line,
 * to `tokenFile`. Returns [{ email, password, id, access }].
 */
export async function provisionUsers(origin, { count, tag, tokenFile, concurrency = 8 }) {
  const password = benchPassword();
  const users = await inPool(count, concurrency, async (i) => {
    const email = `u${i}.${tag}@bench.example`;
    const { id } = await register(origin, email, password, i);
    const { access } = await login(origin, email, password);
    if (decodeClaims(access).sub !== id) throw new Error(`login of ${email}: token sub is not the user id`);
    return { email, password, id, access };
  });
  if (tokenFile) writeFileSync(tokenFile, `${users.map((u) => u.access).join('\n')}\n`);
  return users;
}
