// The otpauth adapter (the only module importing otpauth): RFC 6238 TOTP with the parameters every
// authenticator app supports (SHA-1, 6 digits, 30 s). Replay memory and rate limits are two-factor.ts's.
import { Secret, TOTP } from 'otpauth';

export const TOTP_PERIOD_S = 30;
/** One step either side (RFC 6238 §5.2: a code typed just before a step ends, or a slightly skewed phone). */
const WINDOW = 1;
const CODE = /^\d{6}$/;

/** 160 random bits, base32: RFC 4226 §4 recommends at least 128, and apps expect 160. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** The `otpauth://totp/...` URI authenticator apps read from a QR code. */
export function totpUri(secret: string, issuer: string, account: string): string {
  return new TOTP({
    issuer,
    label: account,
    secret: Secret.fromBase32(secret),
    algorithm: 'SHA1',
    digits: 6,
    period: TOTP_PERIOD_S,
  }).toString();
}

/**
 * The time step (RFC 6238 counter) the code belongs to, or null when it matches none in the window.
 * The caller remembers used steps: a code is good for one use only (RFC 6238 §5.2).
 */
export function matchTotp(secret: string, code: string, at: number): number | null {
  if (!CODE.test(code)) return null;
  let key: Secret;
  try {
    key = Secret.fromBase32(secret);
  } catch {
    return null;
  }
  const delta = TOTP.validate({
    token: code,
    secret: key,
    algorithm: 'SHA1',
    digits: 6,
    period: TOTP_PERIOD_S,
    timestamp: at,
    window: WINDOW,
  });
  if (delta === null) return null;
  return Math.floor(at / 1000 / TOTP_PERIOD_S) + delta;
}

/** How long a matched step stays acceptable: the replay memory must last at least this long. */
export const TOTP_REPLAY_TTL_MS = (2 * WINDOW + 2) * TOTP_PERIOD_S * 1000;
