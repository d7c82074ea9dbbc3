// Canonicalises the request target once and picks the route; every later stage and the forwarder
// reuse this one decision, so what was matched is exactly what is forwarded.
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import { parseTarget } from '../routing/canonical-path.js';
import type { Router } from '../routing/router.js';
import type { CompiledRoute } from '../runtime.js';
import type { RequestContext, Stage } from './context.js';

const isWebSocket = (upgrade: string | undefined): boolean => upgrade?.trim().toLowerCase() === 'websocket';
const isHttp11 = (req: IncomingMessage): boolean =>
  req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1);

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
    // RFC 6455 §4.1: the opening handshake is an HTTP/1.1 GET. Anything else is no WebSocket handshake
    // (http-proxy would drop the connection without a word).
    if (ctx.upgrade !== null && (ctx.req.method !== 'GET' || !isHttp11(ctx.req))) {
      throw new GatewayError('bad_request', {
        message: 'A WebSocket handshake is an HTTP/1.1 GET request',
        close: true,
      });
    }
  };
}
