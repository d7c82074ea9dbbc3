// Several tabs of one session refreshing over HTTP, on the memory store and on a real redis-server: a
// token another tab got inside the grace stays current when a sibling rotates (reviewer's scenario).
// The rule itself (current / spent within the grace / anything else) is in state-store.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import {
  expectFailure,
  me,
  type Pair,
  refresh,
  refreshOk,
  session,
  sleep,
  startAccountsGateway,
} from './support.js';

/** Long enough that the second tab's refresh of the same token lands inside it on a loaded machine. */
const GRACE_MS = 1000;

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

describe.each(['memory', 'redis'])('tabs refreshing one session (%s state)', (state) => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startAccountsGateway({
      base: {
        tokens: `refresh_reuse_grace: ${GRACE_MS}ms`,
        ...(state === 'redis' ? { state: redis.url } : {}),
      },
    });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it("tab B's grace token, first used after tab A rotated again, rotates; both branches carry on", async () => {
    const r0 = await session(gw);
    const a1 = await refreshOk(gw, r0.refresh); // tab A rotates R0
    const b1 = await refreshOk(gw, r0.refresh); // tab B presents R0 inside the grace: a pair of its own
    const a2 = await refreshOk(gw, a1.refresh); // tab A rotates its token again
    const b2 = await refreshOk(gw, b1.refresh); // tab B's token was never used: it is current, not reuse
    const a3 = await refreshOk(gw, a2.refresh);
    const b3 = await refreshOk(gw, b2.refresh);
    for (const p of [a3, b3]) expect((await me(gw, p.access)).status).toBe(200);
    // After the grace, a spent token still revokes the session, whichever branch it came from.
    await sleep(GRACE_MS + 200);
    expectFailure(await refresh(gw, b1.refresh), 401, 'refresh_reused');
    for (const p of [a3, b3]) expectFailure(await me(gw, p.access), 401, 'token_revoked');
    expect((await refresh(gw, a3.refresh)).status).toBe(401);
  });

  it('five tabs refreshing one token at once each get a token that rotates later', async () => {
    const r0 = await session(gw);
    const tabs = await Promise.all([1, 2, 3, 4, 5].map(() => refreshOk(gw, r0.refresh)));
    expect(new Set(tabs.map((p) => p.refresh)).size).toBe(5);
    const next: Pair[] = [];
    for (const p of tabs) next.push(await refreshOk(gw, p.refresh));
    for (const p of next) expect((await me(gw, p.access)).status).toBe(200);
  });
});
