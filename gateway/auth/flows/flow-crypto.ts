// Keys of the account flows, derived with HKDF from the gateway's secret key material (as device tokens
// are): HMAC-signed, expiring link tokens and TOTP challenges, and AES-GCM sealing of TOTP secrets.
// No storage: single use is the caller's business (account_tokens rows, state.firstSeen).
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { randomToken } from '../random-token.js';
import type { TokenService } from '../tokens.js';

export interface SignedToken {
  /** The user id the token was issued for. */
  readonly subject: string;
  readonly expiresAt: number; // ms
}

export interface FlowCrypto {
  /** `purpose` and `bind` are inside the MAC: a token of one flow is worthless to another. */
  sign(purpose: string, subject: string, expiresAt: number, bind?: string): string;
  /** null for garbage, a bad MAC, another purpose or binding, or an expired token; never throws. */
  verify(purpose: string, token: unknown, bind?: string): SignedToken | null;
  /**
   * The subject a well-formed token names, NOT verified: for a binding that depends on the subject's
   * record, read before verify(). null for anything that is not a token.
   */
  subjectOf(token: unknown): string | null;
  /** What the database stores instead of the token. */
  hash(token: string): string;
  /** AES-256-GCM with `aad` (the user id) authenticated: a sealed value copied to another row fails. */
  seal(plaintext: string, aad: string): string;
  /** null when no key opens it (tampered, another user's, or sealed with a key since removed). */
  open(sealed: string, aad: string): string | null;
  /**
   * The same plaintext sealed with the current key when `sealed` opens only with a key being rotated
   * out; null when the current key already opens it, or no key does.
   */
  reseal(sealed: string, aad: string): string | null;
}

export interface FlowCryptoOptions {
  /** Secret input keying material, current first; later entries (being rotated out) still verify and open. */
  readonly keyMaterial: readonly Uint8Array[];
  readonly now?: () => number;
}

const TOKEN = /^v1\.([0-9a-f]{32})\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const MAX_TOKEN_LENGTH = 128;
const SEALED = /^v1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/;

export function createFlowCrypto(options: FlowCryptoOptions): FlowCrypto {
  if (options.keyMaterial.length === 0) throw new Error('account flows need at least one key');
  const derive = (info: string) =>
    options.keyMaterial.map((ikm) => Buffer.from(hkdfSync('sha256', ikm, 'portcullis', info, 32)));
  const macKeys = derive('portcullis flow-token v1');
  const sealKeys = derive('portcullis totp-seal v1');
  const now = options.now ?? Date.now;

  // Newlines separate the fields and none of them can contain one: no two inputs share a MAC input.
  const mac = (key: Buffer, purpose: string, rest: string, bind: string): string =>
    createHmac('sha256', key).update(`v1\n${purpose}\n${bind}\n${rest}`).digest('base64url');

  function seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', sealKeys[0]!, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
  }

  /** The plaintext and the index of the key that opened it (0: the current one). */
  function openWith(sealed: string, aad: string): { plaintext: string; key: number } | null {
    const parts = SEALED.exec(sealed);
    if (parts === null) return null;
    const [, iv, body, tag] = parts as unknown as [string, string, string, string];
    for (const [index, key] of sealKeys.entries()) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        const out = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
        return { plaintext: out.toString('utf8'), key: index };
      } catch {
        // Not this key (or tampered): GCM's tag check failed; try the next one.
      }
    }
    return null;
  }

  return {
    sign(purpose, subject, expiresAt, bind = '') {
      const rest = `${subject}.${Math.floor(expiresAt / 1000)}.${randomToken(16)}`;
      return `v1.${rest}.${mac(macKeys[0]!, purpose, rest, bind)}`;
    },

    verify(purpose, token, bind = '') {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
      const parts = TOKEN.exec(token);
      if (parts === null) return null;
      const [, subject, exp, nonce, sig] = parts as unknown as [string, string, string, string, string];
      const rest = `${subject}.${exp}.${nonce}`;
      const presented = Buffer.from(sig, 'latin1');
      let ok = false;
      // Every key is tried even after a match: the time taken does not say which key signed it.
      for (const key of macKeys) {
        ok = timingSafeEqual(presented, Buffer.from(mac(key, purpose, rest, bind), 'latin1')) || ok;
      }
      const expiresAt = Number(exp) * 1000;
      if (!ok || expiresAt <= now()) return null;
      return { subject, expiresAt };
    },

    subjectOf(token) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
      return TOKEN.exec(token)?.[1] ?? null;
    },

    hash: (token) => createHash('sha256').update(token).digest('base64url'),

    seal,

    open(sealed, aad) {
      return openWith(sealed, aad)?.plaintext ?? null;
    },

    reseal(sealed, aad) {
      const opened = openWith(sealed, aad);
      return opened === null || opened.key === 0 ? null : seal(opened.plaintext, aad);
    },
  };
}

/**
 * The account flows' crypto: keys derived from the assertion keys (current first, then each being
 * rotated out), the same on every replica sharing them.
 */
export function gatewayFlowCrypto(
  tokens: Pick<TokenService, 'deriveSecrets'>,
  now?: () => number,
): FlowCrypto {
  return createFlowCrypto({
    keyMaterial: tokens.deriveSecrets('portcullis account-flows v1'),
    ...(now === undefined ? {} : { now }),
  });
}
