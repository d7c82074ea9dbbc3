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
    // One spelling per address (RFC 5952), else each spelling had its own limits and locks.
    ['2001:DB8::7', '2001:db8::7'],
    ['2001:db8:0::7', '2001:db8::7'],
    ['2001:0db8:0000:0000:0000:0000:0000:0007', '2001:db8::7'],
    ['[2001:DB8:0:0::7]:443', '2001:db8::7'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['::FFFF:198.51.100.7', '198.51.100.7'],
    ['0:0:0:0:0:ffff:198.51.100.7', '198.51.100.7'],
    ['::ffff:c633:6407', '198.51.100.7'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
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
