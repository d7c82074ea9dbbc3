// One X-Forwarded-For entry read as an address: bare addresses, the port-carrying forms some proxies
// write (port dropped), and everything else refused. The walk itself is tested through the gateway.
import { describe, expect, it } from 'vitest';
import { forwardedAddress } from '../../../gateway/pipeline/client-ip.js';

describe('forwardedAddress', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    [' 1.2.3.4 ', '1.2.3.4'],
    ['1.2.3.4:5555', '1.2.3.4'],
    ['1.2.3.4:0', '1.2.3.4'],
    ['1.2.3.4:65535', '1.2.3.4'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:db8::1:80', '2001:db8::1:80'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:80', '2001:db8::1'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['[::ffff:1.2.3.4]:443', '1.2.3.4'],
  ])('%j → %s', (entry, address) => {
    expect(forwardedAddress(entry)).toBe(address);
  });

  it.each([
    '',
    'unknown',
    '_hidden',
    'client.example',
    'client.example:80',
    '1.2.3.4:',
    '1.2.3.4:65536',
    '1.2.3.4:123456',
    '1.2.3.4:80:80',
    '1.2.3.4:8a',
    '1.2.3',
    '[1.2.3.4]',
    '[1.2.3.4]:80',
    '[2001:db8::1',
    '[2001:db8::1]80',
    '[2001:db8::1]:',
    '[2001:db8::1]:x',
    '[]',
    ':80',
  ])('%j is not an address', (entry) => {
    expect(forwardedAddress(entry)).toBeNull();
  });
});
