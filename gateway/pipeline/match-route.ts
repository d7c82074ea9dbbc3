// Canonicalises the request target once and picks the route; every later stage and the forwarder
// reuse this one decision, so what was matched is exactly what is forwarded.
import { GatewayError } from '../errors.js';
import { parseTarget } from '../routing/canonical-path.js';
import type { Router } from '../routing/router.js';
import type { CompiledRoute } from '../runtime.js';
import type { RequestContext, Stage } from './context.js';

const isWebSocket = (upgrade: string | undefined): boolean => upgrade?.trim().toLowerCase() === 'websocket';

export function createMatchRoute(router: Router<CompiledRoute>): Stage {
  return function matchRoute(ctx: RequestContext): void {
    const target = ctx.target ?? parseTarget(ctx.req.url ?? '');
    ctx.target = target;
    const match = router.match(ctx.host, ctx.req.method ?? 'GET', target);
    ctx.match = match;
    // Decided here, before any auth or endpoint work: an h2c or other upgrade must not reach an upstream
    // that would speak it, and the gateway's own endpoints must not answer over an upgrade socket.
    if (ctx.upgrade !== null && (!match.entry.config.websocket || !isWebSocket(ctx.req.headers.upgrade))) {
      throw new GatewayError('bad_request', {
        message: 'This route does not accept protocol upgrades',
        close: true,
      });
    }
  };
}
