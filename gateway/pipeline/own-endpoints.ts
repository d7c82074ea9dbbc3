// Runs the gateway's own endpoints (register, login, refresh, logout, profile, JWKS) once every
// earlier check has passed; requests for configured routes continue to the forwarder. Which paths reach
// an endpoint (its own, or also those below it) is the router's decision.
import type { RequestContext, Stage } from './context.js';

export function createOwnEndpoints(): Stage {
  // Not `async`: a proxied request (no endpoint) costs no promise.
  return function ownEndpoints(ctx: RequestContext): void | Promise<void> {
    const endpoint = ctx.match!.entry.endpoint;
    if (endpoint === undefined) return;
    ctx.ended = true;
    return endpoint.handle(ctx);
  };
}
