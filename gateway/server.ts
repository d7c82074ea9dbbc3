// The main listener: turns each request (or upgrade) into a RequestContext, runs the current
// runtime's stages, renders any error as the envelope, logs one access line, and drains on shutdown.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from '../config/types.js';
import { GatewayError, toGatewayError } from './errors.js';
import { answerClientError } from './http/client-error.js';
import { logFailure } from './http/failure-log.js';
import { sendError, writeRawError } from './http/reply.js';
import { GatewayResponse } from './http/response.js';
import type { Logger } from './logger.js';
import { type GatewayMetrics, NO_METRICS } from './metrics.js';
import { MAX_HEADER_FIELDS } from './pipeline/check-host.js';
import { RequestContext } from './pipeline/context.js';
import type { RuntimeState } from './runtime.js';

export interface MainListener {
  readonly server: Server<typeof IncomingMessage, typeof GatewayResponse>;
  /** Requests whose response has not closed yet or whose stages are still running. */
  inFlight(): number;
  /** Stop accepting, finish in-flight requests (at most `timeoutMs`), then close every connection. */
  drain(timeoutMs: number): Promise<void>;
}

const CONNECT_REFUSED = new GatewayError('bad_path', { close: true });

function logAccess(ctx: RequestContext, log: Logger): void {
  // Building the line costs: skip it entirely when info is off (benchmarks, quiet deployments).
  if (!log.isLevelEnabled('info')) return;
  const res = ctx.res;
  const route = ctx.match?.entry.config.name;
  // An upgrade's 101 or the upstream's refusal of it is written past `res`, by the relay.
  const relayed = ctx.relayedStatus;
  log.info(
    {
      reqId: ctx.reqId,
      method: ctx.req.method,
      // The path only: a query string may carry secrets the client should not have put there.
      path: ctx.target?.rawPath ?? (ctx.req.url ?? '').split('?')[0],
      // Nothing sent means no status: the client left first (aborted says so).
      status: relayed ?? (res.headersSent ? res.statusCode : undefined),
      ms: Math.round((performance.now() - ctx.startedAt) * 100) / 100,
      ip: ctx.clientIp,
      route,
      user: ctx.identity?.userId,
      code: ctx.errorCode ?? undefined,
      aborted: relayed !== null || res.writableFinished ? undefined : true,
    },
    'request',
  );
}

function answerError(ctx: RequestContext, err: GatewayError, log: Logger): void {
  ctx.errorCode = err.code;
  // The access line has the code too; this one says why (an outage's cause, or a bug's stack).
  logFailure(log, err, { reqId: ctx.reqId }, 'request failed');
  if (!sendError(ctx.res, err)) ctx.res.destroy();
}

/** Answers a failed request, once a refusal before the limits was counted against them; then `settled`. */
function fail(ctx: RequestContext, thrown: unknown, log: Logger, settled: () => void): void {
  const judged = ctx.state.countRefusal(ctx, toGatewayError(thrown));
  if (!(judged instanceof Promise)) {
    answerError(ctx, judged, log);
    settled();
    return;
  }
  judged.then((err) => {
    answerError(ctx, err, log);
    settled();
  });
}

/**
 * Runs the stages from `from` on, then calls `settled` once (the last stage returned, or one failed).
 * Synchronous while the stages are: a request whose checks answer at once (a public route, the memory
 * store's limits) is forwarded without a promise or a microtask.
 */
function run(ctx: RequestContext, log: Logger, settled: () => void, from = 0): void {
  const stages = ctx.state.stages;
  try {
    for (let i = from; i < stages.length; i++) {
      const pending = stages[i]!(ctx);
      if (pending !== undefined) {
        pending.then(
          () => {
            if (ctx.ended) settled();
            else run(ctx, log, settled, i + 1);
          },
          (err: unknown) => fail(ctx, err, log, settled),
        );
        return;
      }
      if (ctx.ended) break;
    }
  } catch (err) {
    fail(ctx, err, log, settled);
    return;
  }
  settled();
}

/**
 * Requests a connection may pipeline behind one not yet answered (RFC 9112 §9.3 sets no number; browsers
 * do not pipeline, benchmark tools use depths of 16-64). One more closes the connection.
 */
export const PIPELINED_MAX = 128;

export function createMainListener(
  config: GatewayConfig,
  current: () => RuntimeState,
  log: Logger,
  metrics: GatewayMetrics = NO_METRICS,
): MainListener {
  const s = config.server;
  let active = 0;
  let draining = false;
  let idle: (() => void) | null = null;
  // The response being written on each keep-alive socket: a parse error in a pipelined request
  // must not write its reply into (or in place of) that response.
  const answering = new WeakMap<Duplex, ServerResponse>();
  // Pipelined requests (RFC 9112 §9.3) that Node parsed behind a response still being written: each
  // starts once the one ahead closed, and none does if that response closed the connection (RFC 9112
  // §9.6: no request after the one that closes is processed). Otherwise a request sent behind a refused
  // one (413, garbage that closes, `Connection: close`) was forwarded or acted on, its answer never sent.
  const behind = new WeakMap<Duplex, RequestContext[]>();

  /** Starts a request now, or once the response ahead of it on its connection has closed. */
  const admit = (ctx: RequestContext): void => {
    const socket = ctx.req.socket;
    // Parsed from bytes read after a response that closes (Node reads on to drop its unread body).
    if (socket.writableEnded || socket.destroyed) return;
    if (!answering.has(socket)) {
      start(ctx);
      return;
    }
    const queue = behind.get(socket);
    if (queue === undefined) behind.set(socket, [ctx]);
    else if (queue.length < PIPELINED_MAX) queue.push(ctx);
    else {
      // Node parses on while nothing is being written, holding every request it read: without a bound
      // one connection pipelining behind a slow answer grew the heap until the process died. Socket and
      // parser cannot be paused from here, so the connection is closed (its requests unanswered).
      behind.delete(socket);
      socket.destroy();
      if (log.isLevelEnabled('info'))
        log.info(
          { ip: ctx.req.socket.remoteAddress, queued: PIPELINED_MAX },
          'pipelined too deep: connection closed',
        );
    }
  };

  /** After `res` closed on `socket`: starts the next pipelined request, or drops them all if it closed. */
  const next = (socket: Duplex, res: ServerResponse): void => {
    const queue = behind.get(socket);
    if (queue === undefined) return;
    if (!res.shouldKeepAlive || socket.destroyed || socket.writableEnded) {
      behind.delete(socket);
      return;
    }
    const waiting = queue.shift()!;
    if (queue.length === 0) behind.delete(socket);
    start(waiting);
  };

  const start = (ctx: RequestContext): void => {
    answering.set(ctx.req.socket, ctx.res);
    begin(ctx);
  };

  const begin = (ctx: RequestContext): void => {
    active++;
    // In flight until its response closed AND its stages settled: a client that leaves mid-login does
    // not end the handler's work (the hash, the session, the records), and shutdown must not close the
    // services under it (a password change would otherwise keep the old sessions alive).
    let open = 2;
    const done = (): void => {
      if (--open !== 0) return;
      active--;
      if (active === 0 && idle !== null) idle();
    };
    if (draining) ctx.res.setHeader('connection', 'close');
    // 'close' is emitted once: a plain listener, without once()'s wrapper.
    ctx.res.on('close', () => {
      if (ctx.abortUpstream !== null && !ctx.res.writableFinished)
        ctx.abortUpstream(new Error('client closed the connection'));
      const socket = ctx.req.socket;
      if (answering.get(socket) === ctx.res) answering.delete(socket);
      metrics.request(ctx);
      logAccess(ctx, log);
      done();
      next(socket, ctx.res);
    });
    run(ctx, log, done);
  };

  /** `unmetExpectation`: an `Expect` other than exactly 100-continue, refused by the check-expectation stage. */
  const onRequest = (req: IncomingMessage, res: GatewayResponse, unmetExpectation = false): void => {
    const ctx = new RequestContext(req, res, current(), null, performance.now());
    ctx.unmetExpectation = unmetExpectation;
    admit(ctx);
  };

  const server = createServer(
    {
      // Node's own Host check answers outside the envelope: the check-host stage does it instead.
      requireHostHeader: false,
      headersTimeout: s.headers_timeout,
      // Bodies are streamed and may be large: a slow body is bounded by the idle timeout instead.
      requestTimeout: 0,
      keepAliveTimeout: s.keep_alive_timeout,
      maxHeaderSize: s.max_header_size,
      connectionsCheckingInterval: Math.min(1_000, s.headers_timeout),
      ServerResponse: GatewayResponse,
    },
    onRequest,
  );
  // `Expect: 100-continue` is answered only once the request passed every check and its body is
  // wanted (forward or an own endpoint): a refused request never makes the client send its body.
  // Node takes any value naming 100-continue among others (`100-continue, foo`, `100-continue-x`) for it;
  // continueIfExpected, which writes the 100, takes only `100-continue` itself: the rest is unmet.
  server.on('checkContinue', (req: IncomingMessage, res: GatewayResponse) =>
    onRequest(req, res, req.headers.expect?.toLowerCase() !== '100-continue'),
  );
  // Any other expectation: without a listener Node answers 417 itself, outside the envelope, the log and
  // the Host check. The pipeline runs instead, and its check-expectation stage refuses the request.
  server.on('checkExpectation', (req: IncomingMessage, res: GatewayResponse) => onRequest(req, res, true));
  server.timeout = s.idle_timeout;
  // One over the limit, so that the check-host stage can tell "too many" from "exactly the limit".
  server.maxHeadersCount = MAX_HEADER_FIELDS + 1;
  server.on('timeout', (socket: Duplex) => {
    // Idle means the client is silent. A request read whole and waiting on its upstream (a slow
    // answer, an SSE gap) is bounded by the route's timeout instead; cutting it here would drop it
    // without a reply. A keep-alive wait or a stalled request body is closed as before.
    const pending = answering.get(socket);
    if (pending?.req.complete && !pending.writableFinished) return;
    socket.destroy();
  });

  // CONNECT's authority-form target is no origin-form path (RFC 9112 §3.2.3): without a listener Node
  // drops the socket with no reply at all; answer like any other non-origin-form target.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    writeRawError(socket, CONNECT_REFUSED);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // A ServerResponse on the raw socket lets error replies before the upgrade use the same renderer.
    const res = new GatewayResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.once('finish', () => socket.end());
    socket.on('error', () => socket.destroy());
    begin(new RequestContext(req, res, current(), { socket, head }, performance.now()));
  });

  // A request Node's parser refused never reaches the pipeline: it still gets a request id, an access
  // line and a count, so a flood of malformed or oversized heads shows in the log and the metrics.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const reqId = randomUUID();
    const answered = answerClientError(err, socket, answering, reqId);
    if (answered === null) return;
    metrics.refused(answered.status);
    if (log.isLevelEnabled('info'))
      log.info(
        { reqId, status: answered.status, ip: (socket as Socket).remoteAddress, code: answered.code },
        'request',
      );
  });

  return {
    server,
    inFlight: () => active,
    drain(timeoutMs) {
      draining = true;
      server.close();
      server.closeIdleConnections();
      return new Promise<void>((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          server.closeAllConnections();
          resolve();
        };
        const timer = setTimeout(finish, timeoutMs);
        timer.unref();
        if (active === 0) finish();
        else idle = finish;
      });
    },
  };
}
