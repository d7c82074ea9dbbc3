// Requires exactly one valid Host header (RFC 9112 §3.2) and records its normalised form.
// Two Host headers are a classic routing-confusion lever, so they close the connection.
import { GatewayError } from '../errors.js';
import { normalizeHost } from '../routing/host.js';
import type { RequestContext, Stage } from './context.js';

export function createCheckHost(): Stage {
  return function checkHost(ctx: RequestContext): void {
    const raw = ctx.req.rawHeaders;
    let count = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.length === 4 && name.toLowerCase() === 'host') count++;
    }
    if (count !== 1) {
      throw new GatewayError('bad_request', {
        message: count === 0 ? 'Host header is required' : 'Duplicate Host header',
        close: true,
      });
    }
    try {
      ctx.host = normalizeHost(ctx.req.headers.host);
    } catch (err) {
      // An empty or malformed Host is HTTP-level garbage like a missing one: answer, then close.
      throw new GatewayError('bad_request', { message: 'Invalid Host header', cause: err, close: true });
    }
  };
}
