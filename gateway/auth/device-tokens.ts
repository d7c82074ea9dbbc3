// Known-device tokens: opaque HMAC-signed strings bound to a canonical email, given out on a successful login
// so that device is exempt from the account-wide lockout. Does not decide lockouts, and holds no state.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { randomToken } from './random-token.js';

/**
 * The HMAC key is derived with HKDF from the ASSERTION private key, not from `tokens.secret`: the assertion
 * key exists under every `tokens.algorithm` (tokens.secret is absent with EdDSA / ES256) and is 256 bits of
 * machine randomness when generated, where tokens.secret may be a human-chosen string. The distinct HKDF
 * `info` keeps the derived key independent of the signing use of that material. Rotating the assertion key
 * only makes old device tokens fall back to the account-wide lock, which is the safe direction.
 */
export interface DeviceTokenOptions {
  /** Secret input keying material, current key first; later entries (keys being rotated out) still verify. */
  readonly keyMaterial: readonly Uint8Array[];
  readonly now?: () => number;
  /** How long a device stays known. Default: 365 days. */
  readonly ttlMs?: number;
}

export interface DeviceTokens {
  issueDeviceToken(canonicalEmail: string): string;
  /** Garbage, another email, a bad signature or an expired token all answer false; never throws. */
  isKnownDevice(token: unknown, canonicalEmail: unknown): boolean;
}

const YEAR_MS = 365 * 24 * 3600 * 1000;
// An issue time a little ahead of our clock is tolerated (another replica's skew), a far one is forged.
const FUTURE_SKEW_S = 300;
const MAX_TOKEN_LENGTH = 96;
const DEVICE_TOKEN = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export function createDeviceTokens(options: DeviceTokenOptions): DeviceTokens {
  if (options.keyMaterial.length === 0) throw new Error('device tokens need at least one key');
  const keys = options.keyMaterial.map((ikm) =>
    Buffer.from(hkdfSync('sha256', ikm, 'portcullis', 'portcullis device-token v1', 32)),
  );
  const now = options.now ?? Date.now;
  const ttlS = Math.floor((options.ttlMs ?? YEAR_MS) / 1000);

  // The email follows a newline, which neither the issue time nor the nonce can contain: no two
  // (iat, nonce, email) triples produce the same MAC input.
  const mac = (key: Buffer, iat: string, nonce: string, email: string): string =>
    createHmac('sha256', key).update(`v1.${iat}.${nonce}\n${email}`).digest('base64url');

  return {
    issueDeviceToken(canonicalEmail) {
      const iat = String(Math.floor(now() / 1000));
      const nonce = randomToken(16);
      return `v1.${iat}.${nonce}.${mac(keys[0]!, iat, nonce, canonicalEmail)}`;
    },

    isKnownDevice(token, canonicalEmail) {
      if (typeof token !== 'string' || typeof canonicalEmail !== 'string') return false;
      if (token.length > MAX_TOKEN_LENGTH) return false;
      const parts = DEVICE_TOKEN.exec(token);
      if (parts === null) return false;
      const [, iat, nonce, sig] = parts as unknown as [string, string, string, string];
      const issued = Number(iat);
      const nowS = Math.floor(now() / 1000);
      if (issued > nowS + FUTURE_SKEW_S || nowS - issued > ttlS) return false;
      const presented = Buffer.from(sig, 'latin1');
      let ok = false;
      // Every key is tried even after a match so the time spent does not say which key signed it.
      for (const key of keys) {
        const expected = Buffer.from(mac(key, iat, nonce, canonicalEmail), 'latin1');
        ok = timingSafeEqual(presented, expected) || ok;
      }
      return ok;
    },
  };
}
