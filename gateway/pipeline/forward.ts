// The last stage and the only one that talks to an upstream: streams the request (or relays the
// WebSocket upgrade) to a target picked by the route's balancer and streams the answer back.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import { continueIfExpected, sendError } from '../http/reply.js';
import type { Logger } from '../logger.js';
import type { UpstreamTarget } from '../upstream/balancer.js';
import { limitBody } from '../upstream/body-limit.js';
import { filterResponseHeaders } from '../upstream/headers.js';
import { type PoolRegistry, proxyHttp, type UpstreamFailure } from '../upstream/http-client.js';
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

function failureError(kind: UpstreamFailure, cause: Error): GatewayError {
  if (cause instanceof GatewayError) return cause;
  return new GatewayError(kind === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable', { cause });
}

export function createForward(deps: ForwardDeps): Stage {
  const { pools, websockets, log } = deps;

  function forwardUpgrade(ctx: RequestContext): void {
    const match = ctx.match!;
    const route = match.entry.config;
    // The match-route stage already refused upgrades other than WebSocket on a `websocket: true` route.
    const upgrade = ctx.upgrade!;
    const target = match.entry.balancer.pick();
    ctx.ended = true;
    websockets.relay(
      ctx.req,
      upgrade.socket as Socket,
      upgrade.head,
      target.origin,
      match.forwardPath,
      ctx.upstreamHeaders!,
      (err) => {
        log.warn({ reqId: ctx.reqId, route: route.name, err: err.message }, 'websocket upstream failed');
        if (!sendError(ctx.res, new GatewayError('upstream_unavailable', { cause: err })))
          upgrade.socket.destroy();
      },
    );
  }

  function send(
    ctx: RequestContext,
    target: UpstreamTarget,
    body: Readable | null,
    retriesLeft: number,
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
        res,
        responseHeaders: filterResponseHeaders,
        onResponse: () => match.entry.balancer.markUp(target),
        onFailure: (kind, cause, responded) => {
          if (kind === 'connect') match.entry.balancer.markDown(target);
          // Nothing was sent when the connection was refused, so a bodiless request may try the next target.
          if (kind === 'connect' && body === null && retriesLeft > 0 && !res.destroyed) {
            send(ctx, match.entry.balancer.pick(target), null, retriesLeft - 1);
            return;
          }
          // The client left (its close aborted us): nobody to answer, and not the upstream's failure.
          if (res.destroyed) return;
          const err = failureError(kind, cause);
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
    send(ctx, entry.balancer.pick(), body, body === null ? entry.balancer.targets.length - 1 : 0);
  };
}
