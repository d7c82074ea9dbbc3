// Known-device tokens: accepted only for the email they were issued to, with our key, within a year.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDeviceTokens } from '../../../gateway/auth/device-tokens.js';
import { T0, testClock } from './tokens-forge.js';

const DAY = 86_400_000;
const EMAIL = 'alice@example.com';
const keyA = new Uint8Array(randomBytes(64));
const keyB = new Uint8Array(randomBytes(64));

function flipLast(token: string): string {
  const last = token.at(-1)!;
  return `${token.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`;
}

describe('device tokens', () => {
  const clock = testClock();
  const devices = createDeviceTokens({ keyMaterial: [keyA], now: clock.now });
  const token = devices.issueDeviceToken(EMAIL);
  const other = devices.issueDeviceToken('bob@example.com');

  it('look like v1.<issued>.<nonce>.<mac> and are accepted for their email', () => {
    expect(token).toMatch(/^v1\.\d+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(token.split('.')[1]).toBe(String(T0 / 1000));
    expect(token).not.toContain('alice');
    expect(devices.isKnownDevice(token, EMAIL)).toBe(true);
  });

  const [, iat, nonce, mac] = token.split('.') as [string, string, string, string];
  const otherNonce = other.split('.')[2]!;
  // The MAC is 32 bytes in 43 characters: the last one carries 2 spare bits, so a "different" string can
  // decode to the same bytes. It must still be refused: the comparison is on the canonical string.
  const lastValue = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(mac.at(-1)!);
  const sameBytes = `v1.${iat}.${nonce}.${mac.slice(0, -1)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[lastValue ^ 1]}`;

  it.each<[string, unknown, unknown]>([
    ['another email', token, 'bob@example.com'],
    ['the email in other case (the caller canonicalises)', token, 'Alice@example.com'],
    ['a flipped MAC character', flipLast(token), EMAIL],
    ['a non-canonical MAC encoding', sameBytes, EMAIL],
    ["another token's nonce", `v1.${iat}.${otherNonce}.${mac}`, EMAIL],
    ['a moved issue time', `v1.${Number(iat) + 1}.${nonce}.${mac}`, EMAIL],
    ['another version', `v2.${iat}.${nonce}.${mac}`, EMAIL],
    ['a trailing newline', `${token}\n`, EMAIL],
    ['an overlong token', `${token}${'A'.repeat(200)}`, EMAIL],
    ['empty', '', EMAIL],
    ['garbage', 'not-a-token', EMAIL],
    ['undefined', undefined, EMAIL],
    ['null', null, EMAIL],
    ['a number', 42, EMAIL],
    ['an object', { token }, EMAIL],
    ['an array', [token], EMAIL],
    ['a non-string email', token, { email: EMAIL }],
  ])('rejects %s', (_name, presented, email) => {
    expect(devices.isKnownDevice(presented, email)).toBe(false);
  });

  it('rejects a token made with another key', () => {
    const stranger = createDeviceTokens({ keyMaterial: [keyB], now: clock.now });
    expect(devices.isKnownDevice(stranger.issueDeviceToken(EMAIL), EMAIL)).toBe(false);
  });

  it('stays known for a year, not longer', () => {
    const later = testClock(T0 + 364 * DAY);
    expect(createDeviceTokens({ keyMaterial: [keyA], now: later.now }).isKnownDevice(token, EMAIL)).toBe(
      true,
    );
    later.set(T0 + 366 * DAY);
    expect(createDeviceTokens({ keyMaterial: [keyA], now: later.now }).isKnownDevice(token, EMAIL)).toBe(
      false,
    );
  });

  it('tolerates a few minutes of clock skew, but not an issue time far in the future', () => {
    const ahead = (ms: number) =>
      createDeviceTokens({ keyMaterial: [keyA], now: () => T0 + ms }).issueDeviceToken(EMAIL);
    expect(devices.isKnownDevice(ahead(60_000), EMAIL)).toBe(true);
    expect(devices.isKnownDevice(ahead(DAY), EMAIL)).toBe(false);
  });

  it('keeps accepting tokens of a key being rotated out, and issues with the current key', () => {
    const rotated = createDeviceTokens({ keyMaterial: [keyB, keyA], now: clock.now });
    expect(rotated.isKnownDevice(token, EMAIL)).toBe(true);
    expect(devices.isKnownDevice(rotated.issueDeviceToken(EMAIL), EMAIL)).toBe(false);
  });
});
