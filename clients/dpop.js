// Portcullis DPoP client (RFC 9449) for browsers, and any runtime with WebCrypto and fetch (Node 20+):
// a non-extractable P-256 key kept in IndexedDB, DPoP proofs, and a fetch wrapper for login, refresh and calls.
// It keeps tokens in memory only (not localStorage: an XSS could read them there; it cannot export the key).
//
//   import { createDpopClient } from './dpop.js';
//   const client = await createDpopClient({ gateway: 'https://api.example.com' });
//   await client.login('ada@example.com', 'correct horse battery staple');
//   const res = await client.fetch('/api/orders/1');      // Authorization: DPoP … + a fresh DPoP proof
//
// Server nonces (DPoP-Nonce / use_dpop_nonce) are handled: the latest nonce is kept and a refused request is
// retried once with it. An expired access token is refreshed once (with a proof by the same key), then retried.

const enc = new TextEncoder();

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const b64json = (value) => b64url(enc.encode(JSON.stringify(value)));
const sha256 = async (text) => b64url(await crypto.subtle.digest('SHA-256', enc.encode(text)));

function idbRequest(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** The key pair stored under `id` in IndexedDB, created on first use. The private key never leaves WebCrypto. */
async function storedKeyPair(dbName, id) {
  const open = indexedDB.open(dbName, 1);
  open.onupgradeneeded = () => open.result.createObjectStore('keys');
  const db = await idbRequest(open);
  try {
    const read = db.transaction('keys', 'readonly').objectStore('keys').get(id);
    const existing = await idbRequest(read);
    if (existing?.privateKey && existing?.publicKey) return existing;
    const pair = await newKeyPair();
    await idbRequest(db.transaction('keys', 'readwrite').objectStore('keys').put(pair, id));
    return pair;
  } finally {
    db.close();
  }
}

/** extractable: false: script can sign with the private key but never read it (the public half stays exportable). */
const newKeyPair = () =>
  crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);

export async function createDpopClient(options = {}) {
  const gateway = options.gateway ?? globalThis.location?.origin;
  const authPath = options.authPath ?? '/api/auth';
  const pair =
    options.keyPair ??
    (typeof indexedDB === 'undefined'
      ? await newKeyPair() // no IndexedDB (Node): the key lives as long as the process
      : await storedKeyPair(options.dbName ?? 'portcullis-dpop', options.keyId ?? 'default'));
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const jwk = { kty, crv, x, y };
  // RFC 7638: the thumbprint the gateway puts in the tokens' cnf.jkt.
  const thumbprint = await sha256(JSON.stringify({ crv, kty, x, y }));
  let nonce = null;
  let tokens = null;

  async function proof(method, url, accessToken) {
    const target = new URL(url, gateway);
    const claims = {
      jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
      htm: method.toUpperCase(),
      htu: `${target.origin}${target.pathname}`, // RFC 9449 §4.2: no query, no fragment
      iat: Math.floor(Date.now() / 1000),
    };
    if (accessToken !== undefined) claims.ath = await sha256(accessToken);
    if (nonce !== null) claims.nonce = nonce;
    const input = `${b64json({ typ: 'dpop+jwt', alg: 'ES256', jwk })}.${b64json(claims)}`;
    // WebCrypto's ECDSA signature is r || s, the JWS encoding (RFC 7518 §3.4).
    const signature = await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      pair.privateKey,
      enc.encode(input),
    );
    return `${input}.${b64url(signature)}`;
  }

  /** One exchange with a proof; a `use_dpop_nonce` refusal is retried once with the nonce it carried. */
  async function send(url, init, accessToken) {
    for (let attempt = 0; ; attempt++) {
      const method = (init.method ?? 'GET').toUpperCase();
      const headers = new Headers(init.headers);
      headers.set('DPoP', await proof(method, url, accessToken));
      if (accessToken !== undefined) headers.set('Authorization', `DPoP ${accessToken}`);
      const res = await fetch(new URL(url, gateway), { ...init, method, headers });
      const fresh = res.headers.get('DPoP-Nonce');
      if (fresh !== null) nonce = fresh;
      const challenge = res.headers.get('WWW-Authenticate') ?? '';
      if (res.status === 401 && challenge.includes('use_dpop_nonce') && fresh !== null && attempt === 0)
        continue;
      return res;
    }
  }

  async function tokenCall(path, body) {
    const res = await send(`${authPath}/${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const envelope = await res.json();
    if (!res.ok)
      throw Object.assign(new Error(envelope.message), { status: res.status, code: envelope.code });
    tokens = envelope.data;
    return envelope.data;
  }

  return {
    thumbprint,
    /** The public key as it goes into proofs (the private key cannot be exported). */
    jwk,
    keyPair: pair,
    get tokens() {
      return tokens;
    },
    proof,
    login: (email, password, extra = {}) => tokenCall('login', { email, password, ...extra }),
    refresh: () => tokenCall('refresh', { refresh: tokens?.refresh }),
    async logout() {
      const res = await send(`${authPath}/logout`, { method: 'POST' }, tokens?.access);
      tokens = null;
      return res;
    },
    /** fetch() with `Authorization: DPoP` and a proof; refreshes once when the access token has expired. */
    async fetch(url, init = {}) {
      if (tokens === null) throw new Error('not logged in');
      const res = await send(url, init, tokens.access);
      if (
        res.status !== 401 ||
        (
          await res
            .clone()
            .json()
            .catch(() => ({}))
        ).code !== 'token_expired'
      )
        return res;
      await this.refresh();
      return send(url, init, tokens.access);
    },
  };
}
