// The otpauth adapter against RFC 6238 Appendix B (SHA-1 vectors, last 6 digits), the ±1 step window
// and the URI authenticator apps read.
import { describe, expect, it } from 'vitest';
import { matchTotp, newTotpSecret, totpUri } from '../../../../gateway/auth/flows/totp.js';

// "12345678901234567890" in base32: the RFC 6238 SHA-1 test key.
const RFC_KEY = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

describe('TOTP', () => {
  it.each([
    [59, '287082', 1],
    [1_111_111_109, '081804', 37_037_036],
    [1_111_111_111, '050471', 37_037_037],
    [1_234_567_890, '005924', 41_152_263],
    [2_000_000_000, '279037', 66_666_666],
  ])('RFC 6238 vector at T=%i: %s is step %i', (t, code, step) => {
    expect(matchTotp(RFC_KEY, code, t * 1000)).toBe(step);
  });

  it('accepts one step either side and nothing further', () => {
    const t = 1_111_111_109_000; // step 37037036, code 081804
    expect(matchTotp(RFC_KEY, '081804', t + 30_000)).toBe(37_037_036);
    expect(matchTotp(RFC_KEY, '081804', t - 29_000)).toBe(37_037_036);
    expect(matchTotp(RFC_KEY, '081804', t + 61_000)).toBeNull();
  });

  it.each([['12345'], ['1234567'], ['abcdef'], [' 081804'], ['']])(
    'refuses the malformed code %j',
    (code) => {
      expect(matchTotp(RFC_KEY, code, 1_111_111_109_000)).toBeNull();
    },
  );

  it('makes 160-bit base32 secrets and an otpauth:// URI with issuer and account', () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(newTotpSecret()).not.toBe(secret);
    const uri = new URL(totpUri(secret, 'Acme Gate', 'ada@example.com'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe('Acme Gate');
    expect(uri.searchParams.get('digits')).toBe('6');
    expect(uri.searchParams.get('period')).toBe('30');
  });
});
