// The last stage and the only one that talks to an upstream: streams the request (or relays the
// WebSocket upgrade) to a target picked by the route's balancer and streams the answer back.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import { continueIfExpected, sendError } from '../http/reply.js';
import type { Logger } from '../logger.js';
import type { UpstreamTarget } from '../upstream/balancer.js';
import { limitBody } from '../upstream/body-limit.js';
import { isConnectFailure, isTimeout, type UpstreamFailure } from '../upstream/failure.js';
import { filterResponseHeaders } from '../upstream/headers.js';
import { type PoolRegistry, proxyHttp } from '../upstream/http-client.js';
import type { WebSocketRelay } from '../upstream/websocket.js';
import type { RequestContext, Stage } from './context.js';

export interface ForwardDeps {
  readonly pools: PoolRegistry;
  readonly websockets: WebSocketRelay;
  readonly log: Logger;
}

function hasBody(ctx: RequestContext): boolean {
  const h = ctx.req.headers;
  return (
    (h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined
  );
}

/**
 * The client's answer to an upstream failure. A connect that timed out is 504 like a silent upstream
 * (RFC 9110 §15.6.5: no timely response); a refused or broken connection is 502. When the request body
 * was not read to its end the connection is closed after the answer, rather than reading a body that
 * no upstream will get.
 */
function failureError(kind: UpstreamFailure, cause: Error, bodyUnread: boolean): GatewayError {
  if (cause instanceof GatewayError) return cause;
  return new GatewayError(isTimeout(kind) ? 'upstream_timeout' : 'upstream_unavailable', {
    cause,
    close: bodyUnread,
  });
}

export function createForward(deps: ForwardDeps): Stage {
  const { pools, websockets, log } = deps;

  function forwardUpgrade(ctx: RequestContext): void {
    const match = ctx.match!;
    const route = match.entry.config;
    const balancer = match.entry.balancer;
    // The match-route stage already refused upgrades other than a WebSocket GET on a `websocket: true` route.
    const upgrade = ctx.upgrade!;
    const target = balancer.pick();
    const res = ctx.res;
    ctx.ended = true;
    websockets.relay({
      req: ctx.req,
      socket: upgrade.socket as Socket,
      head: upgrade.head,
      origin: target.origin,
      path: match.forwardPath,
      headers: ctx.upstreamHeaders!,
      timeoutMs: route.timeout,
      // Our reply headers (X-Request-Id, RateLimit-*, CORS) on the 101 and on a refusal alike; a refusal is
      // an HTTP answer like any other, so its hop-by-hop fields go.
      switchingHeaders: (headers) => res.addReplyHeaders(headers),
      answerHeaders: (headers) => res.addReplyHeaders(filterResponseHeaders(headers)),
      onAnswer: (status) => {
        balancer.markUp(target);
        // A client already gone gets nothing: it is reported as having left before the answer.
        if (!upgrade.socket.destroyed) ctx.relayedStatus = status;
      },
      onUnreachable: () => balancer.markDown(target),
      onFailure: (kind, err) => {
        const gatewayError = failureError(kind, err, false);
        ctx.errorCode = gatewayError.code;
        log.warn(
          { reqId: ctx.reqId, route: route.name, code: gatewayError.code, err: err.message },
          'websocket upstream failed',
        );
        if (!sendError(res, gatewayError)) upgrade.socket.destroy();
      },
    });
  }

  function send(
    ctx: RequestContext,
    target: UpstreamTarget,
    body: Readable | null,
    retriesLeft: number,
    deadline: number,
  ): void {
    const match = ctx.match!;
    const route = match.entry.config;
    const res = ctx.res;
    proxyHttp(
      {
        pool: pools.get(target.origin),
        method: ctx.req.method!,
        path: match.forwardPath,
        headers: ctx.upstreamHeaders!,
        body,
        timeoutMs: route.timeout,
        // The route timeout bounds the whole wait for the answer, a retry on the next target included.
        headTimeoutMs: Math.max(1, deadline - Date.now()),
        res,
        responseHeaders: filterResponseHeaders,
        onResponse: () => match.entry.balancer.markUp(target),
        onUnreachable: () => match.entry.balancer.markDown(target),
        onFailure: (kind, cause, responded) => {
          // Nothing was sent when no connection was made, so a bodiless request may try the next target.
          if (isConnectFailure(kind) && body === null && retriesLeft > 0 && !res.destroyed) {
            send(ctx, match.entry.balancer.pick(target), null, retriesLeft - 1, deadline);
            return;
          }
          // The client left (its close aborted us): nobody to answer, and not the upstream's failure.
          if (res.destroyed) return;
          const err = failureError(kind, cause, body !== null && !ctx.req.complete);
          ctx.errorCode = err.code;
          if (responded || !sendError(res, err)) {
            log.warn(
              { reqId: ctx.reqId, route: route.name, code: err.code, err: cause.message },
              'upstream stream broken',
            );
            res.destroy();
          } else if (err.code !== 'payload_too_large') {
            log.warn(
              { reqId: ctx.reqId, route: route.name, code: err.code, err: cause.message },
              'upstream failed',
            );
          }
        },
      },
      (abort) => {
        ctx.abortUpstream = abort;
      },
    );
  }

  return function forward(ctx: RequestContext): void {
    if (ctx.upgrade !== null) {
      forwardUpgrade(ctx);
      return;
    }
    const entry = ctx.match!.entry;
    const limit = entry.config.body_limit;
    let body: Readable | null = hasBody(ctx) ? ctx.req : null;
    if (limit !== null && body !== null) {
      const announced = Number(ctx.req.headers['content-length'] ?? 0);
      if (announced > limit) throw new GatewayError('payload_too_large', { close: true });
      body = ctx.req.pipe(limitBody(limit));
    }
    if (body !== null) continueIfExpected(ctx.req, ctx.res);
    ctx.ended = true;
    send(
      ctx,
      entry.balancer.pick(),
      body,
      body === null ? entry.balancer.targets.length - 1 : 0,
      Date.now() + entry.config.timeout,
    );
  };
}
