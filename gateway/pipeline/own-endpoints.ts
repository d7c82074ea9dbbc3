// Runs the gateway's own endpoints (register, login, refresh, logout, profile, JWKS, flows) once every
// earlier check has passed, after applying the body rules to each of them; configured routes continue.
// Which paths reach an endpoint (its own, or also those below it) is the router's decision.
import type { GatewayConfig } from '../../config/types.js';
import type { JsonBody } from '../auth/endpoints.js';
import { carriesBody, checkBodyHeaders, parseJsonObject, readBody } from '../http/json-body.js';
import { continueIfExpected } from '../http/reply.js';
import type { RequestContext, Stage } from './context.js';

const NO_BODY: JsonBody = Object.freeze({});

export function createOwnEndpoints(config: GatewayConfig): Stage {
  const limit = config.server.body_limit;
  const deadlineMs = config.server.body_timeout;
  // Not `async`: a proxied request (no endpoint) costs no promise.
  return function ownEndpoints(ctx: RequestContext): void | Promise<void> {
    const endpoint = ctx.match!.entry.endpoint;
    if (endpoint === undefined) return;
    ctx.ended = true;
    const req = ctx.req;
    const json = endpoint.body === 'json';
    if (!json && !carriesBody(req)) return endpoint.handle(ctx, NO_BODY);
    // DESIGN "Bodies": every own endpoint, one that takes no body too, refuses a body of another type
    // (415) or an announced length over the limit (413) from the head alone, before `100 Continue`.
    checkBodyHeaders(req, limit);
    continueIfExpected(req, ctx.res);
    // The body is read whole (or refused) before the handler acts: a refused request changes nothing,
    // and no unread body is left behind. One an endpoint does not take is dropped as it arrives.
    if (json) {
      return readBody(req, limit, { deadlineMs }).then((bytes) =>
        endpoint.handle(ctx, parseJsonObject(bytes)),
      );
    }
    return readBody(req, limit, { keep: false, deadlineMs }).then(() => endpoint.handle(ctx, NO_BODY));
  };
}
