// CORS for browser clients, off unless server.cors.allowed_origins lists origins. Only a listed
// Origin is ever echoed back (never `*`, never an arbitrary one); preflights are answered here.
import type { GatewayConfig } from '../../config/types.js';
import { parseTarget } from '../routing/canonical-path.js';
import type { Router } from '../routing/router.js';
import type { CompiledRoute } from '../runtime.js';
import type { RequestContext, Stage } from './context.js';

/** What every page may send; `server.cors.allowed_headers` adds to it. */
const ALLOWED_HEADERS = ['authorization', 'content-type', 'dpop', 'x-request-id'];
const EXPOSED_HEADERS =
  'x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after, www-authenticate, dpop-nonce';

export function createCors(config: GatewayConfig, router: Router<CompiledRoute>): Stage | null {
  const origins = new Set(config.server.cors.allowed_origins);
  if (origins.size === 0) return null;
  const allowedHeaders = [...new Set([...ALLOWED_HEADERS, ...config.server.cors.allowed_headers])].join(', ');
  return function cors(ctx: RequestContext): void {
    const res = ctx.res;
    res.setReplyHeader('vary', 'Origin');
    const origin = ctx.req.headers.origin;
    if (origin === undefined || !origins.has(origin)) return;
    res.setReplyHeader('access-control-allow-origin', origin);
    res.setReplyHeader('access-control-expose-headers', EXPOSED_HEADERS);
    const requested = ctx.req.headers['access-control-request-method'];
    if (ctx.req.method !== 'OPTIONS' || requested === undefined) return;
    // A preflight carries no credentials and asks about another method: answered here, before route
    // matching would refuse OPTIONS, for a route that exists and allows the requested method.
    ctx.target = parseTarget(ctx.req.url ?? '');
    router.match(ctx.host, requested, ctx.target);
    res.setHeader('access-control-allow-methods', requested);
    res.setHeader('access-control-allow-headers', allowedHeaders);
    res.setHeader('access-control-max-age', '600');
    res.writeHead(204);
    res.end();
    ctx.ended = true;
  };
}
