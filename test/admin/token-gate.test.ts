// The admin token gate counts refusals per client the way the main port does: an IPv6 peer by its
// network (server.ipv6_limit_prefix), IPv4 and IPv4-mapped peers by their whole address. Sockets from
// several addresses of one /64 cannot be opened in a test, so the gate is driven with peer addresses.
import { describe, expect, it } from 'vitest';
import { createGateGuard } from '../../admin/server.js';
import { GatewayError } from '../../gateway/errors.js';
import { createLogger } from '../../gateway/logger.js';
import { createMemoryLimiters } from '../../gateway/state/limiter.js';

const log = createLogger({ level: 'silent', format: 'json' });
const refusal = new GatewayError('invalid_token');

function gate(prefix: number) {
  const limiter = createMemoryLimiters().create(
    'admin-token',
    { points: 2, duration_ms: 60_000, text: '2/m' },
    { failClosed: false },
  );
  return createGateGuard(
    () => limiter,
    () => prefix,
    log,
  );
}

async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (err) {
    return err instanceof GatewayError ? err.code : 'other';
  }
}

describe('admin token gate keys', () => {
  it('SECURITY: refusals from one /64 lock its other addresses out; another /64 is not', async () => {
    const guard = gate(64);
    for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2::2'])
      expect(await codeOf(guard.refused(ip, refusal))).toBe('invalid_token');
    expect(await codeOf(guard.check('2001:db8:1:2::3'))).toBe('rate_limited');
    expect(await codeOf(guard.refused('2001:db8:1:2::4', refusal))).toBe('rate_limited');
    expect(await codeOf(guard.check('2001:db8:1:3::1'))).toBeUndefined();
  });

  it('with prefix 128, and for IPv4 or IPv4-mapped peers, each address counts alone', async () => {
    for (const [prefix, first, second] of [
      [128, '2001:db8:1:2::1', '2001:db8:1:2::2'],
      [64, '::ffff:127.0.0.2', '::ffff:127.0.0.3'],
      [64, '127.0.0.2', '127.0.0.3'],
    ] as const) {
      const guard = gate(prefix);
      for (let i = 0; i < 2; i++) await codeOf(guard.refused(first, refusal));
      expect(await codeOf(guard.check(first))).toBe('rate_limited');
      expect(await codeOf(guard.check(second))).toBeUndefined();
    }
  });
});
