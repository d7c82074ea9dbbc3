// Signed flow tokens and sealed secrets with a frozen clock: expiry, purpose and binding in the MAC,
// key rotation, and AES-GCM sealing bound to its user.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createFlowCrypto } from '../../../../gateway/auth/flows/flow-crypto.js';

const USER = 'a'.repeat(32);
const key = () => new Uint8Array(randomBytes(32));

describe('flow tokens', () => {
  let clock = 1_700_000_000_000;
  const k1 = key();
  const crypto = createFlowCrypto({ keyMaterial: [k1], now: () => clock });

  it('verifies its own token until it expires, then never again', () => {
    clock = 1_700_000_000_000;
    const token = crypto.sign('password_reset', USER, clock + 60_000);
    expect(crypto.verify('password_reset', token)).toEqual({ subject: USER, expiresAt: clock + 60_000 });
    clock += 59_000;
    expect(crypto.verify('password_reset', token)).not.toBeNull();
    clock += 1_000;
    expect(crypto.verify('password_reset', token)).toBeNull();
  });

  it('security: purpose and binding are part of the signature', () => {
    const token = crypto.sign('totp_challenge', USER, clock + 60_000, 'ua-hash-1');
    expect(crypto.verify('totp_challenge', token, 'ua-hash-1')).not.toBeNull();
    expect(crypto.verify('totp_challenge', token, 'ua-hash-2')).toBeNull();
    expect(crypto.verify('totp_challenge', token)).toBeNull();
    expect(crypto.verify('password_reset', token, 'ua-hash-1')).toBeNull();
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['too long', `v1.${'a'.repeat(200)}`],
    ['two dots missing', `v1.${USER}.1`],
    ['upper-case user id', `v1.${'A'.repeat(32)}.9999999999.${'a'.repeat(22)}.${'a'.repeat(43)}`],
  ])('security: %s is refused without throwing', (_name, token) => {
    expect(crypto.verify('password_reset', token)).toBeNull();
  });

  it('a key being rotated out still verifies and opens; a removed one does neither', () => {
    const k2 = key();
    const old = createFlowCrypto({ keyMaterial: [k1], now: () => clock });
    const token = old.sign('verify_email', USER, clock + 60_000);
    const sealed = old.seal('JBSWY3DPEHPK3PXP', USER);
    const rotating = createFlowCrypto({ keyMaterial: [k2, k1], now: () => clock });
    expect(rotating.verify('verify_email', token)).not.toBeNull();
    expect(rotating.open(sealed, USER)).toBe('JBSWY3DPEHPK3PXP');
    const rotated = createFlowCrypto({ keyMaterial: [k2], now: () => clock });
    expect(rotated.verify('verify_email', token)).toBeNull();
    expect(rotated.open(sealed, USER)).toBeNull();
  });

  it('reseal: a secret sealed with a key being rotated out comes back sealed with the current one', () => {
    const k2 = key();
    const sealedOld = createFlowCrypto({ keyMaterial: [k1] }).seal('JBSWY3DPEHPK3PXP', USER);
    const rotating = createFlowCrypto({ keyMaterial: [k2, k1] });
    const again = rotating.reseal(sealedOld, USER);
    expect(again).not.toBeNull();
    expect(again).not.toBe(sealedOld);
    // The current key alone opens it: the old key file can go.
    expect(createFlowCrypto({ keyMaterial: [k2] }).open(again!, USER)).toBe('JBSWY3DPEHPK3PXP');
    // Already current, another user's, or garbage: nothing to reseal.
    expect(rotating.reseal(again!, USER)).toBeNull();
    expect(rotating.reseal(sealedOld, 'b'.repeat(32))).toBeNull();
    expect(rotating.reseal('garbage', USER)).toBeNull();
  });

  it('security: a sealed secret opens only for the user it was sealed for, and not once tampered', () => {
    const sealed = crypto.seal('JBSWY3DPEHPK3PXP', USER);
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(crypto.open(sealed, USER)).toBe('JBSWY3DPEHPK3PXP');
    expect(crypto.open(sealed, 'b'.repeat(32))).toBeNull();
    const parts = sealed.split('.');
    // The first character: the last one of base64url may carry only unused bits.
    parts[2] = (parts[2]!.startsWith('A') ? 'B' : 'A') + parts[2]!.slice(1);
    expect(crypto.open(parts.join('.'), USER)).toBeNull();
    expect(crypto.open('garbage', USER)).toBeNull();
  });

  it('hashes deterministically, never to the token itself', () => {
    const token = crypto.sign('password_reset', USER, clock + 1000);
    expect(crypto.hash(token)).toBe(crypto.hash(token));
    expect(crypto.hash(token)).not.toContain(token);
  });
});
