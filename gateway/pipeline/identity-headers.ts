// Builds the header list the upstream receives: the client's headers minus every copy of our
// identity and forwarding headers (on every route), then ours. Nothing here trusts the client.
import type { GatewayConfig } from '../../config/types.js';
import { createAssertionCache } from '../auth/assertions.js';
import type { TokenService } from '../auth/tokens.js';
import { createRequestHeaderPolicy, filterRequestHeaders } from '../upstream/headers.js';
import type { RequestContext, Stage } from './context.js';

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * A header field value carrying text: its UTF-8 bytes, as the one-byte-per-character string node:http
 * and undici write as is. Field values are bytes (RFC 9110 §5.5: non-ASCII is obs-text, opaque), and
 * both libraries refuse characters above U+00FF and would write U+0080–U+00FF as single Latin-1 bytes:
 * an address such as `paweł@example.com` failed every proxied request (502) and `zoë@example.com`
 * arrived as invalid UTF-8. ASCII text (the usual case) is returned untouched.
 */
export function utf8FieldValue(text: string): string {
  return NON_ASCII.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

export function createIdentityHeaders(config: GatewayConfig, tokens: TokenService): Stage {
  const names = config.identity_headers;
  const assertionHeader = names.assertion;
  const assertionFor = assertionHeader === null ? null : createAssertionCache(tokens);
  const policy = createRequestHeaderPolicy(
    [names.user_id, names.email, names.roles, names.session_id, names.assertion].filter(
      (n): n is string => n !== null,
    ),
  );
  return function identityHeaders(ctx: RequestContext): void | Promise<void> {
    const route = ctx.match!.entry.config;
    const out: string[] = [];
    const req = ctx.req;
    filterRequestHeaders(req.rawHeaders, req.headers.connection, policy, route.forward_authorization, out);
    out.push(
      'x-forwarded-for',
      ctx.forwardedFor,
      'x-forwarded-proto',
      ctx.forwardedProto,
      'x-forwarded-host',
      ctx.forwardedHost,
      'x-request-id',
      ctx.reqId,
    );
    const id = ctx.identity;
    if (id !== null) {
      out.push(
        names.user_id,
        id.userId,
        names.email,
        utf8FieldValue(id.email),
        names.roles,
        id.roles.join(','),
        names.session_id,
        id.sessionId,
      );
    }
    ctx.upstreamHeaders = out;
    if (id === null || assertionFor === null || id.email === '') return;
    const cnf = ctx.claims?.cnf;
    return assertionFor({ route: route.name, ...id, ...(cnf === undefined ? {} : { cnf }) }).then((token) => {
      out.push(assertionHeader!, token);
    });
  };
}
