// "direct": the load generator talks to an upstream itself, with no hop: the ceiling for everything else.
// It starts nothing: the upstreams are shared and started once by upstreams.mjs.
import { expectUpstreamBody } from '../check.mjs';

/** The direct contender for upstream `upstreamName` ('node' or 'nginx'). */
export function createDirectContender(upstreamName) {
  return {
    name: `direct-${upstreamName}`,
    label: `direct to the ${upstreamName} upstream`,
    kind: 'direct',
    upstream: upstreamName,
    // Only the upstream the proxies use is the ceiling that matters; the other costs a column of time.
    extra: (opts) => opts.upstream !== upstreamName,
    unavailable: (ctx) => (ctx.upstreams.has(upstreamName) ? null : `no ${upstreamName} upstream`),
    async start(ctx) {
      const up = ctx.upstreams.get(upstreamName);
      return { url: `${up.origin}/`, pid: up.pid };
    },
    check: (instance) => expectUpstreamBody(instance.url),
  };
}
