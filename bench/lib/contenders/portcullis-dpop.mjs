// `portcullis-dpop`: `portcullis-memory` (memory state store, SQLite users, route `/` with auth: required)
// with `device_binding.mode: dpop`. Each user logs in with a DPoP proof by its own P-256 key; every proxied
// request carries `Authorization: DPoP <token>` and a fresh proof (the gateway remembers each jti, a
// proof sent twice is 401), so the proofs of each timed window are signed just before it (lib/dpop.mjs).

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_UA, benchPassword, inPool, login, logout, register } from '../accounts.mjs';
import { expectDpopChecks } from '../check.mjs';
import { makeProof, newDpopKey, writeProofFile } from '../dpop.mjs';
import { decodeClaims } from '../jwt.mjs';
import { createPortcullisContender } from './portcullis.mjs';

/**
 * Proofs signed for a window: (the contender's best req/s so far × MARGIN, at least FLOOR_RATE) × the
 * window, plus SPARE. The floor because the warm-up is slower than the rounds after it (2.2× here, under
 * --cpu-prof), so a margin on its rate alone ran out; signing the spare costs the bench ~40 µs a proof.
 * The first window (a warm-up, no rate known yet) ran 9,400 req/s on a fast day (2026-11-30): a floor
 * of 8,000/s ran out and stopped the run, so the floor is twice that.
 */
const MARGIN = 2;
const FLOOR_RATE = 16_000;
const SPARE = 2000;

const loginUrl = (origin) => `${origin}/api/auth/login`;

/** Registers `email` and logs it in with a proof by a new key; returns { email, id, token, key }. */
async function dpopUser(origin, email, password, i = 0) {
  const { id } = await register(origin, email, password, i);
  const key = newDpopKey();
  const proof = makeProof(key, { method: 'POST', url: loginUrl(origin) });
  const data = await login(origin, email, password, { dpop: proof });
  const claims = decodeClaims(data.access);
  if (claims.sub !== id) throw new Error(`login of ${email}: token sub is not the user id`);
  if (claims.cnf?.jkt !== key.jkt)
    throw new Error(`login of ${email}: token cnf.jkt ${claims.cnf?.jkt} is not the proof key's ${key.jkt}`);
  return { email, id, token: data.access, access: data.access, key };
}

export function createDpopContender({ name, label }) {
  const base = createPortcullisContender({
    name,
    label,
    auth: true,
    // dpop_nonce off: a nonce round trip would be the client's cost, not the proof check's.
    overrides: { device_binding: { mode: 'dpop', dpop_nonce: false } },
  });
  return {
    ...base,
    async prepare(instance, ctx) {
      const t0 = Date.now();
      const password = benchPassword();
      instance.users = await inPool(ctx.opts.users, 8, (i) =>
        dpopUser(instance.origin, `u${i}.${name}@bench.example`, password, i),
      );
      ctx.progress(
        `${name}: ${instance.users.length} users registered and logged in with DPoP proofs (${Date.now() - t0} ms)`,
      );
      let bestRps = null;
      const file = join(instance.dir, 'proofs.txt');
      instance.loadWindow = async ({ durationS }) => {
        const count = Math.ceil(Math.max(FLOOR_RATE, (bestRps ?? 0) * MARGIN) * durationS) + SPARE;
        const ms = await writeProofFile(file, {
          users: instance.users,
          count,
          method: 'GET',
          url: instance.url,
        });
        ctx.progress(`${name}: ${count} proofs signed for a ${durationS} s window (${ms.toFixed(0)} ms)`);
        return {
          headers: { proofs: true, file, userAgent: BENCH_UA },
          done(result) {
            rmSync(file, { force: true });
            if (result.overruns === 0 && result.errorCount === 0)
              bestRps = Math.max(bestRps ?? 0, result.rps);
          },
        };
      };
    },
    async check(instance) {
      const { origin } = instance;
      const [user] = instance.users;
      let n = 0;
      await expectDpopChecks(origin, {
        valid: { token: user.token, userId: user.id, key: user.key },
        proofFor: (key, method, url, token) => makeProof(key, { method, url, token }),
        newUser: () => dpopUser(origin, `check${++n}.${name}@bench.example`, benchPassword()),
        revoke: (u) =>
          logout(origin, u.token, {
            authorization: `DPoP ${u.token}`,
            dpop: makeProof(u.key, { method: 'POST', url: `${origin}/api/auth/logout`, token: u.token }),
          }),
      });
    },
  };
}
