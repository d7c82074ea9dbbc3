// Refresh tokens: 256-bit base64url format, SHA-256 storage hash, malformed input refused before hashing.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  hashRefreshToken,
  isRefreshTokenFormat,
  newRefreshToken,
} from '../../../gateway/auth/refresh-tokens.js';
import { GatewayError } from '../../../gateway/errors.js';

describe('refresh tokens', () => {
  it('are 256 random bits in unpadded base64url, and the hash is their SHA-256', () => {
    const { token, hash } = newRefreshToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(hash).toBe(createHash('sha256').update(token).digest('base64url'));
    expect(hashRefreshToken(token)).toBe(hash);
    expect(hash).not.toContain(token);
  });

  it('are different every time', () => {
    const seen = new Set(Array.from({ length: 200 }, () => newRefreshToken().token));
    expect(seen.size).toBe(200);
  });

  it.each([
    ['empty', ''],
    ['42 characters', 'a'.repeat(42)],
    ['44 characters', 'a'.repeat(44)],
    ['standard base64 "+"', `${'a'.repeat(42)}+`],
    ['padding', `${'a'.repeat(42)}=`],
    ['whitespace', ` ${'a'.repeat(42)}`],
    ['non-ASCII', `${'a'.repeat(42)}é`],
    ['1 MB', 'a'.repeat(1_000_000)],
    ['null', null],
    ['number', 42],
    ['object', { token: 'a'.repeat(43) }],
  ])('rejects a malformed token (%s) with invalid_token', (_name, input) => {
    expect(isRefreshTokenFormat(input)).toBe(false);
    let err: unknown;
    try {
      hashRefreshToken(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('invalid_token');
    expect((err as GatewayError).status).toBe(401);
  });
});
