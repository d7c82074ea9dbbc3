// Runs the gateway's own endpoints (register, login, refresh, logout, profile, JWKS) once every
// earlier check has passed; requests for configured routes continue to the forwarder.
import { endpointNotFound, isExactEndpointPath } from '../auth/endpoints.js';
import type { RequestContext, Stage } from './context.js';

export function createOwnEndpoints(): Stage {
  // Not `async`: a proxied request (no endpoint) costs no promise.
  return function ownEndpoints(ctx: RequestContext): void | Promise<void> {
    const match = ctx.match!;
    const endpoint = match.entry.endpoint;
    if (endpoint === undefined) return;
    if (endpoint.subPaths !== true && !isExactEndpointPath(match.forwardPath)) throw endpointNotFound();
    ctx.ended = true;
    return endpoint.handle(ctx);
  };
}
