// Refresh tokens: opaque 256-bit random strings, stored only as their SHA-256 (a leaked table is useless).
// Does not store, rotate or bind them: the session layer does that with the hash this module returns.
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { randomToken } from './random-token.js';

/** 32 random bytes in unpadded base64url are always exactly 43 characters. */
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface NewRefreshToken {
  /** Given to the client once; never stored or logged. */
  readonly token: string;
  /** What the state store keeps. */
  readonly hash: string;
}

export function isRefreshTokenFormat(token: unknown): token is string {
  // The length test runs first so a megabyte of input is turned away without scanning it.
  return typeof token === 'string' && token.length === 43 && REFRESH_TOKEN.test(token);
}

export function newRefreshToken(): NewRefreshToken {
  const token = randomToken(32);
  return { token, hash: createHash('sha256').update(token).digest('base64url') };
}

/** Throws invalid_token for anything that is not a token we could have issued, before hashing it. */
export function hashRefreshToken(token: unknown): string {
  if (!isRefreshTokenFormat(token)) throw new GatewayError('invalid_token');
  return createHash('sha256').update(token).digest('base64url');
}
