// DPoP (RFC 9449) for the bench's `portcullis-dpop` users, with node:crypto only (the bench never imports
// the gateway's modules): a P-256 key per user, single proofs for logins and checks, and files of fresh
// proofs signed by worker threads just before each timed window (wrk's Lua cannot sign). It times nothing.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const b64json = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** base64url(SHA-256(access token)): the proof's `ath`. */
export const ath = (token) => createHash('sha256').update(token).digest('base64url');

/**
 * A P-256 key pair: { privateKey (KeyObject), privateJwk (for the signing workers), jwk (public, as in the
 * proof header), jkt (RFC 7638 thumbprint: what the gateway puts in the tokens' cnf.jkt), header (the
 * proof's protected header, base64url) }.
 */
export function newDpopKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const jwk = { kty, crv, x, y };
  const jkt = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
  return {
    privateKey,
    privateJwk: privateKey.export({ format: 'jwk' }),
    jwk,
    jkt,
    header: b64json({ typ: 'dpop+jwt', alg: 'ES256', jwk }),
  };
}

/** The signing input's claims part (base64url); `athValue` absent at login. */
export function proofClaims({ jti, htm, htu, iat, athValue }) {
  const claims = { jti, htm, htu, iat };
  if (athValue !== undefined) claims.ath = athValue;
  return b64json(claims);
}

/** A compact ES256 JWS: the signature is r || s (JWS, RFC 7518 §3.4), not DER. */
export function signProof(privateKey, header, claims) {
  const input = `${header}.${claims}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** One fresh proof by `key` for `method url`, bound to `token` when given (`ath`). */
export function makeProof(key, { method, url, token }) {
  const u = new URL(url);
  const claims = proofClaims({
    jti: randomBytes(16).toString('base64url'),
    htm: method,
    htu: `${u.origin}${u.pathname}`,
    iat: Math.floor(Date.now() / 1000),
    athValue: token === undefined ? undefined : ath(token),
  });
  return signProof(key.privateKey, key.header, claims);
}

/**
 * Signs `count` fresh proofs for `method url` and writes `file`: one request per line, `<access token>
 * <proof>`, users taken in turn (line i is users[i % users.length]). Every proof has its own jti and an
 * `iat` of now, so call it right before the window that sends them. The work is split across worker
 * threads (one per core): ~60-100 µs per signature here. Resolves to the milliseconds it took.
 * @param users [{ access, key }] with `key` from newDpopKey()
 */
export async function writeProofFile(file, { users, count, method, url, workers = availableParallelism() }) {
  const t0 = performance.now();
  const u = new URL(url);
  const htu = `${u.origin}${u.pathname}`;
  // Unique for the whole run: a random prefix per file, then the line number.
  const prefix = randomBytes(9).toString('base64url');
  const shared = users.map((user) => ({
    access: user.access,
    header: user.key.header,
    ath: ath(user.access),
    privateJwk: user.key.privateJwk,
  }));
  const n = Math.max(1, Math.min(workers, Math.ceil(count / 2000)));
  const chunk = Math.ceil(count / n);
  const parts = await Promise.all(
    Array.from({ length: n }, (_, w) =>
      runWorker({
        users: shared,
        from: w * chunk,
        to: Math.min(count, (w + 1) * chunk),
        htm: method,
        htu,
        prefix,
      }),
    ),
  );
  writeFileSync(file, parts.join(''));
  return performance.now() - t0;
}

function runWorker(job) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    let out = null;
    worker.once('message', (text) => {
      out = text;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (out !== null) resolve(out);
      else reject(new Error(`DPoP signing worker exited with code ${code} and no proofs`));
    });
  });
}

/** The worker's side of writeProofFile: lines [from, to) as one string. */
function signLines({ users, from, to, htm, htu, prefix }) {
  const keys = new Map();
  const keyOf = (i) => {
    let k = keys.get(i);
    if (k === undefined) {
      k = createPrivateKey({ key: users[i].privateJwk, format: 'jwk' });
      keys.set(i, k);
    }
    return k;
  };
  const iat = Math.floor(Date.now() / 1000);
  const lines = [];
  for (let line = from; line < to; line++) {
    const i = line % users.length;
    const user = users[i];
    const claims = proofClaims({ jti: `${prefix}.${line.toString(36)}`, htm, htu, iat, athValue: user.ath });
    lines.push(`${user.access} ${signProof(keyOf(i), user.header, claims)}\n`);
  }
  return lines.join('');
}

if (!isMainThread && workerData?.prefix !== undefined) parentPort.postMessage(signLines(workerData));
