// The network of an address and the key per-address limits count under: IPv4 whole, IPv6 by its
// /64 (server.ipv6_limit_prefix), one spelling per network however the address was written.
import { describe, expect, it } from 'vitest';
import { ipNetwork, limitKey } from '../../gateway/ip-network.js';

describe('limitKey', () => {
  it.each([
    ['203.0.113.7', 64, '203.0.113.7'],
    ['203.0.113.7', 128, '203.0.113.7'],
    ['::ffff:203.0.113.7', 64, '203.0.113.7'],
    ['::ffff:203.0.113.7', 128, '203.0.113.7'],
    ['2001:db8:1:2::10', 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff:ffff:ffff:ffff', 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2::10', 128, '2001:db8:1:2::10'],
    ['2001:db8:1:2::10', 48, '2001:db8:1::/48'],
    ['2001:db8:abcd:12ff::1', 56, '2001:db8:abcd:1200::/56'],
    ['2001:db8::', 32, '2001:db8::/32'],
    ['1:2:3:4:5:6:7:8', 64, '1:2:3:4::/64'],
    ['1:2:3:4:5:6:7:8', 127, '1:2:3:4:5:6:7:8/127'],
    ['1:2:3:4:5:6:7:9', 127, '1:2:3:4:5:6:7:8/127'],
    ['1:0:0:1::', 64, '1:0:0:1::/64'],
    ['1::', 64, '1::/64'],
    ['::1', 64, '::/64'],
    ['fe80::1%eth0', 64, 'fe80::/64'],
    ['64:ff9b::c000:201', 96, '64:ff9b::/96'],
    ['64:ff9b::192.0.2.1', 120, '64:ff9b::c000:200/120'],
  ])('%s with prefix %i counts under %s', (ip, prefix, key) => {
    expect(limitKey(ip, prefix)).toBe(key);
  });

  it('SECURITY: every address of one /64 shares a key; the neighbouring /64 does not', () => {
    const key = limitKey('2001:db8:1:2::1', 64);
    for (const ip of ['2001:db8:1:2::2', '2001:db8:1:2:dead:beef:0:1', '2001:db8:1:2:ffff:ffff:ffff:ffff'])
      expect(limitKey(ip, 64)).toBe(key);
    expect(limitKey('2001:db8:1:3::1', 64)).not.toBe(key);
    expect(limitKey('2001:db8:1:1:ffff:ffff:ffff:ffff', 64)).not.toBe(key);
  });

  it('SECURITY: IPv4-mapped clients are not grouped into one IPv6 network', () => {
    expect(limitKey('::ffff:198.51.100.1', 64)).not.toBe(limitKey('::ffff:198.51.100.2', 64));
  });

  it('gives back what is not an address', () => {
    expect(limitKey('not-an-ip', 64)).toBe('not-an-ip');
    expect(limitKey('a:b', 64)).toBe('a:b');
  });
});

describe('ipNetwork', () => {
  it.each([
    ['203.0.113.10', '203.0.113.0/24'],
    ['255.255.255.255', '255.255.255.0/24'],
    ['::ffff:203.0.113.9', '203.0.113.0/24'],
    ['2001:db8:1:2::10', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:ffff:0:0:1', '2001:db8:1:2::/64'],
  ])('%s is in %s', (ip, network) => {
    expect(ipNetwork(ip, 24, 64)).toBe(network);
  });
});
