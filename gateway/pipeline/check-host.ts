// HTTP-level checks on the request head that Node's parser leaves to us: exactly one valid Host (RFC 9112
// §3.2) among a bounded number of fields, and no transfer coding but chunked. Failures close the connection.
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import { normalizeHost } from '../routing/host.js';
import type { RequestContext, Stage } from './context.js';

/**
 * Header fields one request may carry. Node keeps only the first `maxHeadersCount` and drops the rest
 * without a word, so a second Host or Authorization placed after them would dodge the duplicate checks;
 * the listener keeps one more than this, and a request that reaches it is refused (Envoy and Apache
 * default to 100; cookies and tracing headers of real browsers stay far below 256).
 */
export const MAX_HEADER_FIELDS = 256;

/**
 * The checks on one request head; returns the normalised Host. Exported for the admin listener, which
 * has no pipeline but must refuse the same heads the same way.
 */
export function checkRequestHead(req: IncomingMessage): string {
  const raw = req.rawHeaders;
  if (raw.length > 2 * MAX_HEADER_FIELDS) {
    throw new GatewayError('headers_too_large', { message: 'Too many header fields', close: true });
  }
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
  // Node frames any coding list ending in chunked, but forwards the body with the other codings still
  // applied and unnamed (Transfer-Encoding is hop-by-hop): refuse what we cannot honour (RFC 9112 §6.1).
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    throw new GatewayError('bad_request', { message: 'Unsupported Transfer-Encoding', close: true });
  }
  try {
    return normalizeHost(req.headers.host);
  } catch (err) {
    // An empty or malformed Host is HTTP-level garbage like a missing one: answer, then close.
    throw new GatewayError('bad_request', { message: 'Invalid Host header', cause: err, close: true });
  }
}

export function createCheckHost(): Stage {
  return function checkHost(ctx: RequestContext): void {
    ctx.host = checkRequestHead(ctx.req);
  };
}
