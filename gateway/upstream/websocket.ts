// The http-proxy-3 adapter: relays an already-authorised WebSocket upgrade to the upstream with the
// headers the pipeline built, bounded by the route timeout until the upstream answers the handshake.
// It makes no access decisions; the pipeline ran before it is called.
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import { CONNECT_ERRNO, CONNECT_TIMEOUT_MS, isConnectFailure, type UpstreamFailure } from './failure.js';

export interface WebSocketCall {
  readonly req: IncomingMessage;
  readonly socket: Socket;
  readonly head: Buffer;
  readonly origin: string;
  readonly path: string;
  /** The request's headers for the upstream, flat [name, value, ...]. */
  readonly headers: readonly string[];
  /**
   * How long the upstream may take to answer the handshake, connect included (ms); also the longest
   * silence inside the body of an answer other than 101.
   */
  readonly timeoutMs: number;
  /** The 101's headers as the upstream sent them (flat, names lowercase, yours to change) → the client's. */
  readonly switchingHeaders: (headers: string[]) => string[];
  /** The same for any other answer (the upstream refused the handshake). */
  readonly answerHeaders: (headers: string[]) => string[];
  /** The upstream answered the handshake, with 101 or anything else. */
  readonly onAnswer: (status: number) => void;
  /**
   * No connection to the target could be made (refused, unreachable, or not within CONNECT_TIMEOUT_MS).
   * Passive health: also called when the route timeout had already answered the client.
   */
  readonly onUnreachable: () => void;
  /** At most once, before anything from the upstream reached the client: the caller answers it. */
  readonly onFailure: (kind: UpstreamFailure, cause: Error) => void;
}

export interface WebSocketRelay {
  relay(call: WebSocketCall): void;
  close(): void;
}

function flatHeaders(raw: readonly string[]): string[] {
  const flat: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i += 2) {
    flat[i] = raw[i]!.toLowerCase();
    flat[i + 1] = raw[i + 1]!;
  }
  return flat;
}

/** http-proxy writes the client's status line from the answer's `headers` object: give it ours. */
function replaceHeaders(res: IncomingMessage, flat: readonly string[]): void {
  const headers: IncomingHttpHeaders = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const prior = headers[name];
    headers[name] =
      prior === undefined
        ? flat[i + 1]!
        : Array.isArray(prior)
          ? [...prior, flat[i + 1]!]
          : [prior, flat[i + 1]!];
  }
  res.headers = headers;
}

/**
 * Once one side of a tunnel has closed, how long the other may take to take what it was still sent and
 * close in turn (ms): the grace the revocation closer gives a client to read its close frame.
 */
const LINGER_MS = 1_000;

/**
 * The other side of the tunnel has closed: whatever is still buffered goes out with a FIN, what arrives is
 * read and dropped (that is how the peer's FIN is seen; unread data would make the close a reset), and the
 * socket is destroyed if the peer has not closed within LINGER_MS. http-proxy only ends it: a peer that
 * ignores the FIN (a server with allowHalfOpen, a client that hangs on) would otherwise hold the socket
 * and its descriptor for as long as it likes.
 */
function release(socket: Duplex): void {
  if (socket.destroyed) return;
  // Unpiped first: the pipe's own clean-up would pause the socket again after resume().
  socket.unpipe();
  socket.end();
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * One upgrade: the deadline for the handshake's answer and the connect timeout around http-proxy's request,
 * then, once upgraded, the release of each side of the tunnel when the other closes.
 */
class Exchange {
  private readonly call: WebSocketCall;
  private proxyReq: ClientRequest | null = null;
  private upstream: Socket | null = null;
  /** The upstream connection once it answered 101: one side of the tunnel. */
  private tunnel: Duplex | null = null;
  /** The upstream answered (101 or not): from here on http-proxy relays, and nothing is reported. */
  private answered = false;
  /** The client has its answer from us (onFailure), or has gone: nothing more is reported. */
  private settled = false;
  /** What we destroyed the upstream request for, when we did. */
  private destroyedFor: UpstreamFailure | null = null;
  private deadline: NodeJS.Timeout | null;
  private connectTimer: NodeJS.Timeout | null = null;

  constructor(call: WebSocketCall) {
    this.call = call;
    this.deadline = setTimeout(this.expire, call.timeoutMs);
    call.socket.once('close', () => {
      // The client has gone: nothing the upstream sends has anywhere to go any more.
      if (this.tunnel !== null) release(this.tunnel);
      else if (this.answered) this.proxyReq?.destroy();
      else {
        // It left before the answer: nobody to answer, and no reason to keep a connected upstream.
        this.settled = true;
        this.giveUp();
      }
    });
  }

  /** Called from http-proxy's proxyReqWs, before it adds its own listeners: ours run first. */
  attach(proxyReq: ClientRequest): void {
    this.proxyReq = proxyReq;
    proxyReq.once('socket', (socket: Socket) => {
      this.upstream = socket;
      if (!socket.connecting) return;
      this.connectTimer = setTimeout(() => {
        this.connectTimer = null;
        this.destroy(
          'connect_timeout',
          new Error('no connection to the upstream within the connect timeout'),
        );
      }, CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        this.clearConnectTimer();
        // The route timeout (or the client leaving) came first: the connect only told us the target is up.
        if (this.settled) proxyReq.destroy();
      });
    });
    proxyReq.once('upgrade', (res: IncomingMessage, socket: Socket) => {
      this.tunnel = socket;
      const client = this.call.socket;
      socket.once('close', () => release(client));
      this.answer(101);
      replaceHeaders(res, this.call.switchingHeaders(flatHeaders(res.rawHeaders)));
    });
    proxyReq.once('response', (res: IncomingMessage) => {
      this.answer(res.statusCode ?? 0);
      const headers = this.call.answerHeaders(flatHeaders(res.rawHeaders));
      // http-proxy closes the client connection after this answer; without a Connection of the answer's
      // own it would echo the client's `Connection: Upgrade`, which no longer describes anything.
      headers.push('connection', 'close');
      replaceHeaders(res, headers);
      res.setTimeout(this.call.timeoutMs, () => {
        res.destroy();
        this.call.socket.destroy();
      });
    });
  }

  /** http-proxy's error callback: the upstream request or socket failed (before or after the answer). */
  onError(err: Error): void {
    this.clearDeadline();
    this.clearConnectTimer();
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const kind = this.destroyedFor ?? (CONNECT_ERRNO.has(code) ? 'connect' : 'failed');
    if (isConnectFailure(kind)) this.call.onUnreachable();
    this.report(kind, err);
  }

  private answer(status: number): void {
    this.answered = true;
    this.clearDeadline();
    this.clearConnectTimer();
    this.call.onAnswer(status);
  }

  private readonly expire = (): void => {
    this.deadline = null;
    if (this.answered) return;
    this.report('timeout', new Error('no answer to the WebSocket handshake within the route timeout'));
    this.giveUp();
  };

  /**
   * Nobody waits for the answer any more. A connected upstream request is destroyed; one still connecting
   * is left to connect (then destroyed) or to time out (then the target is marked down), as for HTTP.
   */
  private giveUp(): void {
    this.clearDeadline();
    if (this.upstream === null || !this.upstream.connecting) this.proxyReq?.destroy();
  }

  private destroy(kind: UpstreamFailure, err: Error): void {
    this.destroyedFor = kind;
    this.proxyReq?.destroy(err);
  }

  private report(kind: UpstreamFailure, err: Error): void {
    if (this.answered || this.settled) return;
    this.settled = true;
    this.call.onFailure(kind, err);
  }

  private clearDeadline(): void {
    if (this.deadline === null) return;
    clearTimeout(this.deadline);
    this.deadline = null;
  }

  private clearConnectTimer(): void {
    if (this.connectTimer === null) return;
    clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }
}

export function createWebSocketRelay(): WebSocketRelay {
  // xfwd off: the pipeline already rebuilt X-Forwarded-*; http-proxy would append the client's.
  const proxy = createProxyServer({ ws: true, xfwd: false, prependPath: false });
  proxy.on('error', () => undefined);
  const starting = new WeakMap<IncomingMessage, Exchange>();
  proxy.on('proxyReqWs', (proxyReq, req) => {
    const exchange = starting.get(req);
    if (exchange === undefined) return;
    starting.delete(req);
    exchange.attach(proxyReq);
  });
  return {
    relay(call) {
      const { req, socket, headers } = call;
      const outgoing: Record<string, string | string[]> = {};
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!.toLowerCase();
        const value = headers[i + 1]!;
        const prior = outgoing[name];
        outgoing[name] =
          prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
      }
      outgoing.connection = 'Upgrade';
      outgoing.upgrade = req.headers.upgrade ?? 'websocket';
      // http-proxy copies req.headers and req.url: replace them with the pipeline's decision.
      req.headers = outgoing;
      req.url = call.path;
      // A WebSocket peer that half-closes has left (RFC 6455 §7.1.1: TCP close follows the closing
      // handshake). The listener allows half-open sockets, so without this an upstream that ignores
      // the FIN would hold the tunnel, and the drain's in-flight count, open indefinitely.
      socket.once('end', () => socket.end());
      const exchange = new Exchange(call);
      starting.set(req, exchange);
      proxy.ws(req, socket, call.head, { target: call.origin }, (err) =>
        exchange.onError(err instanceof Error ? err : new Error(String(err))),
      );
      starting.delete(req);
    },
    close() {
      proxy.close();
    },
  };
}
