// What one authenticated request costs the Redis state store: ONE command (the check script), which
// answers the session check and counts the global and the route's per-user rate limits, in counters
// rate-limiter-flexible reads as its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { monitorCommands, type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import { type Account, loginOk, registerOk, routesYaml, send, startRedisGateway } from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let gw: TestGateway;
let user: Account;
let access: string;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startRecordingUpstream()]);
  const extra = `  - { name: limited-auth, path: /mine, upstream: "${upstream.origin}", auth: required, rate_limit: 3/m }`;
  gw = await startRedisGateway({
    redis: redis.url,
    db: 0,
    yaml: routesYaml(upstream.origin, extra),
    limits: { authenticated: '100/h' },
  });
  user = await registerOk(gw);
  access = (await loginOk(gw, user.email)).access;
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([redis?.stop(), upstream?.close()]);
});

const counter = async (name: string): Promise<string> =>
  (await redisCli(redis.port, 'GET', `pc:rl:${name}:{u:${user.id}}`)).trim();

describe('one Redis command per authenticated request', () => {
  it('a proxied request on a route with a rate limit is one EVALSHA: session, global and route limits', async () => {
    // The first request on a connection loads the script (EVAL); the next ones use its hash.
    expect((await send(gw, 'GET', '/mine', { token: access })).status).toBe(200);
    let status = 0;
    const seen = await monitorCommands(redis.port, async () => {
      status = (await send(gw, 'GET', '/mine', { token: access })).status;
    });
    expect(status).toBe(200);
    expect(seen, seen.join('\n')).toHaveLength(1);
    expect(seen[0]).toContain('"evalsha"');
    // Both counters, in the user's hash slot, counted by that one command.
    expect(seen[0]).toContain(`"pc:rl:global-user:{u:${user.id}}"`);
    expect(seen[0]).toContain(`"pc:rl:route:limited-auth:{u:${user.id}}"`);
    expect(await counter('global-user')).toBe('2');
    expect(await counter('route:limited-auth')).toBe('2');
  });

  it('the counts are the limits: the route refuses the 4th request of the minute with 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) statuses.push((await send(gw, 'GET', '/mine', { token: access })).status);
    expect(statuses).toEqual([200, 429]);
    const ttl = Number(
      (await redisCli(redis.port, 'PTTL', `pc:rl:route:limited-auth:{u:${user.id}}`)).trim(),
    );
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });
});

describe("a login's round trips to Redis", () => {
  const reads = async (): Promise<number> =>
    Number(/total_reads_processed:(\d+)/.exec(await redisCli(redis.port, 'INFO', 'stats'))?.[1]);

  it('four writes: the global limit, the login limits with the unlock epoch, the lock, then the session with the lock reset', async () => {
    await loginOk(gw, user.email); // scripts loaded, connections open
    // What asking costs by itself (redis-cli's command, the previous one's close).
    const idle = -(await reads()) + (await reads());
    const before = await reads();
    await loginOk(gw, user.email);
    // Redis reads once per write that reaches it. The lock's reset used to leave in a write of its own,
    // between the signature and the session (five).
    expect((await reads()) - before - idle).toBe(4);
  });
});
