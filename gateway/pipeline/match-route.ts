// Canonicalises the request target once and picks the route; every later stage and the forwarder
// reuse this one decision, so what was matched is exactly what is forwarded.
import { parseTarget } from '../routing/canonical-path.js';
import type { Router } from '../routing/router.js';
import type { CompiledRoute } from '../runtime.js';
import type { RequestContext, Stage } from './context.js';

export function createMatchRoute(router: Router<CompiledRoute>): Stage {
  return function matchRoute(ctx: RequestContext): void {
    const target = ctx.target ?? parseTarget(ctx.req.url ?? '');
    ctx.target = target;
    ctx.match = router.match(ctx.host, ctx.req.method ?? 'GET', target);
  };
}
