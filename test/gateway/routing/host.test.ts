// Tests Host normalisation: the forms that must compare equal, and the garbage that must be a 400.
// How the normalised host selects routes is tested in router.test.ts.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../gateway/errors.js';
import { normalizeHost } from '../../../gateway/routing/host.js';

describe('normalizeHost', () => {
  it.each([
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['EXAMPLE.com:443', 'example.com'],
    ['example.com:', 'example.com'],
    ['example.com.', 'example.com'],
    ['Example.com.:80', 'example.com'],
    ['localhost', 'localhost'],
    ['my_service-1.internal', 'my_service-1.internal'],
    ['127.0.0.1', '127.0.0.1'],
    ['127.0.0.1:3000', '127.0.0.1'],
    ['[::1]', '[::1]'],
    ['[::1]:8080', '[::1]'],
    ['[FE80::1]', '[fe80::1]'],
    ['[2001:DB8::1]:443', '[2001:db8::1]'],
    ['[::ffff:127.0.0.1]', '[::ffff:127.0.0.1]'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeHost(input)).toBe(expected);
  });

  it('returns the same string when it is already normal (no allocation)', () => {
    const host = 'orders.example.com';
    expect(normalizeHost(host)).toBe(host);
  });

  it.each([
    undefined,
    '',
    ' ',
    ' example.com',
    'example.com ',
    'exa mple.com',
    'example.com\t',
    'a\u0000b',
    'a\r\nb',
    'user@example.com',
    'user:pass@example.com',
    'example.com@evil.com',
    'example.com/path',
    'example.com\\x',
    'example.com?x',
    'example.com#x',
    'ex%61mple.com',
    'bücher.example',
    '.example.com',
    'a..b',
    '.',
    ':80',
    'example.com:99999',
    'example.com:65536',
    'example.com:123456',
    'example.com:80a',
    'example.com:-1',
    'example.com:80:80',
    'example.com: 80',
    '::1',
    '[::1',
    '[::1]x',
    '[::1]:80x',
    '[::1]:99999',
    '[zz::1]',
    '[127.0.0.1]',
    '[fe80::1%25eth0]',
    '[]',
    `${'a'.repeat(254)}`,
  ])('%j is bad_request', (input) => {
    let caught: unknown;
    try {
      normalizeHost(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as GatewayError).code).toBe('bad_request');
    expect((caught as GatewayError).status).toBe(400);
  });
});
