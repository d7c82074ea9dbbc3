// The network a login comes from, as the new-device alert compares it: IPv4 /24, IPv6 /64.
import { describe, expect, it } from 'vitest';
import { ipRange } from '../../../../gateway/auth/flows/new-device.js';

describe('ipRange', () => {
  it.each([
    ['203.0.113.10', '203.0.113.0/24'],
    ['203.0.113.250', '203.0.113.0/24'],
    ['::ffff:203.0.113.9', '203.0.113.0/24'],
    ['2001:db8:1:2::10', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:0:0:1', '2001:db8:1:2::/64'],
    ['::1', '::/64'],
    ['fe80::', 'fe80::/64'],
  ])('%s is in %s', (ip, range) => {
    expect(ipRange(ip)).toBe(range);
  });

  it('tells neighbouring networks apart', () => {
    expect(ipRange('203.0.113.10')).not.toBe(ipRange('203.0.114.10'));
    expect(ipRange('2001:db8:1:2::1')).not.toBe(ipRange('2001:db8:1:3::1'));
  });
});
