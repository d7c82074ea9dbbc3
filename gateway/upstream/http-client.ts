// The undici adapter: one keep-alive Pool per upstream origin, and a streaming forwarder that pipes
// request and response bodies both ways with backpressure. It does not choose targets or headers.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, errors, Pool, util } from 'undici';
import { CoarseDeadline } from './coarse-deadline.js';
import { CONNECT_ERRNO, CONNECT_TIMEOUT_MS, isConnectFailure, type UpstreamFailure } from './failure.js';
import { relayableTrailers } from './headers.js';

export type { UpstreamFailure } from './failure.js';

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** What went wrong, decided from undici's stable error codes (and node:net's, which undici passes on). */
export function classifyUpstreamError(err: Error): UpstreamFailure {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (CONNECT_ERRNO.has(code)) return 'connect';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect_timeout';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (code === 'UND_ERR_ABORTED') return 'aborted';
  return 'failed';
}

/**
 * The largest answer head an upstream may send (undici's default is Node's 16 KiB, which some apps'
 * cookies and CSP headers pass); a larger one is 502 upstream_unavailable. nginx allows 4–8 KiB.
 */
export const UPSTREAM_HEAD_BYTES = 64 * 1024;

export class PoolRegistry {
  private readonly pools = new Map<string, Pool>();

  get(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      // keepAliveTimeout under the common 5 s server default, so we never reuse a socket the upstream closes.
      pool = new Pool(origin, {
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
        connect: { timeout: CONNECT_TIMEOUT_MS },
        maxHeaderSize: UPSTREAM_HEAD_BYTES,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** After a reload: close (gracefully: in-flight requests finish) pools no route uses any more. */
  retainOnly(origins: ReadonlySet<string>): void {
    for (const [origin, pool] of this.pools) {
      if (origins.has(origin)) continue;
      this.pools.delete(origin);
      void pool.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
  }
}

export interface ProxyCall {
  readonly pool: Pool;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: Readable | null;
  /** The longest silence inside the answer's body (ms). */
  readonly timeoutMs: number;
  /**
   * How long the answer's head may take (ms), counted from this dispatch with the connect included but
   * not the time the request body takes to go out (the client's pace); an interim (1xx) answer restarts it.
   */
  readonly headTimeoutMs: number;
  readonly res: ServerResponse;
  /**
   * Turns the upstream's headers (flat [name, value, ...], names lowercase, yours to change) into the
   * client's: hop-by-hop removed, ours added.
   */
  readonly responseHeaders: (headers: string[]) => string[];
  /** Called once on failure; `responded` tells whether the client already has the status line. */
  readonly onFailure: (kind: UpstreamFailure, cause: Error, responded: boolean) => void;
  readonly onResponse: (status: number) => void;
  /**
   * No connection to the target could be made (refused, unreachable, or not within CONNECT_TIMEOUT_MS).
   * Passive health: also called when the route timeout had already answered the client.
   */
  readonly onUnreachable: () => void;
}

/**
 * A chunked answer's trailer fields (a checksum, gRPC's status) go on to the client, which gets them when
 * its answer is chunked too (Node sends none on a response with a length or to an HTTP/1.0 client).
 */
function relayTrailers(res: ServerResponse, raw: ReadonlyArray<Buffer | string>): void {
  const fields = relayableTrailers(raw.map((v) => (typeof v === 'string' ? v : v.toString('latin1'))));
  if (fields.length === 0) return;
  try {
    res.addTrailers(fields);
  } catch {
    // A field Node refuses to write (an invalid character): the body is whole, the trailers are not sent.
  }
}

/**
 * An interim answer before the final one (RFC 9110 §15.2: a proxy forwards them). Node can write two:
 * 103 Early Hints, when it carries a Link, and 102 Processing. Other 1xx codes are dropped; none of
 * them may become the status line of the final answer.
 */
function relayInformational(res: ServerResponse, statusCode: number, headers: readonly string[]): void {
  // RFC 9110 §15.2: never to an HTTP/1.0 client (Node's writers do not check).
  if (res.headersSent || (res.req.httpVersionMajor === 1 && res.req.httpVersionMinor === 0)) return;
  if (statusCode === 102) {
    res.writeProcessing();
    return;
  }
  if (statusCode !== 103) return;
  const hints = new Map<string, string[]>();
  for (let i = 0; i < headers.length; i += 2) {
    const values = hints.get(headers[i]!);
    if (values === undefined) hints.set(headers[i]!, [headers[i + 1]!]);
    else values.push(headers[i + 1]!);
  }
  if (!hints.has('link')) return;
  try {
    res.writeEarlyHints(Object.fromEntries(hints));
  } catch {
    // Hints are advice: a field Node refuses to write costs the client the hint, never the answer.
  }
}

/**
 * undici's raw handler interface (onConnect … onComplete), the one its own request() and stream() are
 * built on. The controller interface (onRequestStart …) is a wrapper around it that turns every
 * response's raw headers into an object first; a proxy wants the list as it came.
 */
class ProxyHandler implements Dispatcher.DispatchHandler {
  private abortExchange: ((err: Error) => void) | null = null;
  private abortReason: Error | null = null;
  /** The exchange has ended (completed, failed, or aborted by us): nothing is left to abort. */
  private done = false;
  /** onFailure has been called: later failures of this exchange are no longer the client's. */
  private failureReported = false;
  /** What was left of the clock (ms) while it is held for the upload; -1 when not held. */
  private heldWith = -1;
  /** Body bytes still expected by Content-Length; -1 when unknown or already ended. */
  private remaining = -1;
  /**
   * The head of an answer with a length, held until its first body byte (or its end): Node would only
   * send it then anyway, and until then a failure can still be answered 502/504 instead of a cut.
   */
  private heldHeaders: string[] | null = null;
  private heldStatus = 0;
  /** The answer has no body whatever its length says (HEAD, 204, 304): the client's is ended already. */
  private bodiless = false;
  private resumeReading: (() => void) | null = null;
  private readonly call: ProxyCall;
  private readonly resume = (): void => this.resumeReading?.();
  private readonly expire = (): void => {
    const err = new errors.HeadersTimeoutError('no answer head within the route timeout');
    if (this.connected) {
      // Comes back through onError, as undici's own headersTimeout would.
      this.abort(err);
      return;
    }
    // Still connecting: answer now. The attempt goes on until it connects (aborted at once, in onConnect)
    // or fails (onError: then it only informs passive health).
    this.abortReason = err;
    this.report('timeout', err);
  };
  /** The route's clock for the answer head (see start): coarse, since nearly every request clears it. */
  private readonly clock: CoarseDeadline;

  constructor(call: ProxyCall) {
    this.call = call;
    this.clock = new CoarseDeadline(this.expire);
  }

  /** undici has written (or is writing) the request on a connection. */
  get connected(): boolean {
    return this.abortExchange !== null;
  }

  /**
   * Starts the route's clock for the answer head, at dispatch. undici's own headersTimeout starts only
   * once the request is written on a connection, and undici cannot cancel a request still waiting for
   * one: a connect that hangs (up to CONNECT_TIMEOUT_MS) would not count against the route timeout.
   */
  start(): void {
    this.clock.start(this.call.headTimeoutMs);
    this.call.body?.once('end', () => this.bodySent());
  }

  /** The whole body went to undici: the clock goes on with what was left of it (see onConnect). */
  private bodySent(): void {
    if (this.heldWith < 0) return;
    this.clock.start(this.heldWith);
    this.heldWith = -1;
  }

  /** The clock has nothing more to watch: the head arrived, or the exchange failed or was aborted. */
  private stopClock(): void {
    this.heldWith = -1;
    this.clock.stop();
  }

  private report(kind: UpstreamFailure, cause: Error): void {
    if (this.failureReported) return;
    this.failureReported = true;
    this.call.onFailure(kind, cause, this.call.res.headersSent);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortExchange = abort;
    if (this.abortReason !== null) {
      this.abort(this.abortReason);
      return;
    }
    // The upload goes at the client's pace, not the upstream's (undici's headersTimeout does not run
    // while it writes the request either): hold the clock until the body is sent.
    const body = this.call.body;
    if (body !== null && !body.readableEnded && this.clock.armed) {
      this.heldWith = this.clock.remainingMs();
      this.clock.stop();
    }
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    const res = this.call.res;
    if (statusCode >= 200) this.stopClock();
    else if (this.clock.armed) this.clock.start(this.call.headTimeoutMs);
    if (res.destroyed) return true;
    const headers: string[] = new Array(raw.length);
    let length: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = util.headerNameToString(raw[i]!);
      const value = raw[i + 1]!.toString('latin1');
      headers[i] = name;
      headers[i + 1] = value;
      if (name === 'content-length') length = value;
    }
    if (statusCode < 200) {
      relayInformational(res, statusCode, this.call.responseHeaders(headers));
      return true;
    }
    this.resumeReading = resume;
    this.call.onResponse(statusCode);
    const out = this.call.responseHeaders(headers);
    if (length === undefined) {
      // A response without a length is a stream (SSE, chunked): the client must see headers now, not
      // with the first chunk, which may be minutes away.
      res.writeHead(statusCode, out);
      res.flushHeaders();
    } else if (this.call.method === 'HEAD' || statusCode === 204 || statusCode === 304) {
      // No body follows, whatever the length says (a 304's is the resource's, RFC 9110 §8.6): answered
      // now, so undici's complaint that no body came (it counts a 304's length) cannot cut it.
      this.bodiless = true;
      res.writeHead(statusCode, out);
      res.end();
    } else {
      this.remaining = Number(length);
      this.heldStatus = statusCode;
      this.heldHeaders = out;
    }
    return true;
  }

  /** Writes the held head (see `heldHeaders`): the first body byte, or the end, is here. */
  private releaseHead(res: ServerResponse): void {
    const headers = this.heldHeaders;
    if (headers === null) return;
    this.heldHeaders = null;
    res.writeHead(this.heldStatus, headers);
  }

  onData(chunk: Buffer): boolean {
    const res = this.call.res;
    if (res.destroyed || this.bodiless) return true;
    this.releaseHead(res);
    // The whole announced body in one chunk (most API answers): headers, body and end go out in one
    // write instead of two.
    if (chunk.length === this.remaining) {
      this.remaining = -1;
      res.end(chunk);
      return true;
    }
    this.remaining -= chunk.length;
    if (res.write(chunk)) return true;
    res.once('drain', this.resume);
    return false;
  }

  /** `trailers`: undici's raw list, [name, value, ...] as bytes, of a chunked answer's trailer fields. */
  onComplete(trailers: ReadonlyArray<Buffer | string> | null): void {
    this.done = true;
    const res = this.call.res;
    if (res.writableEnded || res.destroyed) return;
    this.releaseHead(res);
    if (trailers !== null && trailers.length > 0) relayTrailers(res, trailers);
    res.end();
  }

  onError(error: Error): void {
    this.done = true;
    this.stopClock();
    // The client's answer is complete: what went wrong after it (a 304's missing "body") is not its.
    if (this.bodiless) return;
    const kind = classifyUpstreamError(error);
    if (isConnectFailure(kind)) this.call.onUnreachable();
    this.report(kind, error);
  }

  abort(reason: Error): void {
    this.stopClock();
    if (!this.connected) {
      // undici cannot cancel a request waiting for a connection: onConnect aborts it.
      this.abortReason = reason;
      return;
    }
    if (!this.done) {
      this.done = true;
      this.abortExchange!(reason);
    }
  }
}

/**
 * Starts forwarding. `abortable` receives the function that aborts this exchange (the client went away)
 * before anything is sent: undici may fail a dispatch at once, and the failure handler may start another.
 * Aborting an exchange that has ended does nothing.
 */
export function proxyHttp(call: ProxyCall, abortable: (abort: (reason: Error) => void) => void): void {
  const handler = new ProxyHandler(call);
  abortable((reason) => handler.abort(reason));
  handler.start();
  call.pool.dispatch(
    {
      path: call.path,
      method: call.method as Dispatcher.HttpMethod,
      headers: call.headers,
      body: call.body,
      // undici's own clock, from the write on and held while the body goes out: behind ours, a backstop.
      headersTimeout: call.headTimeoutMs,
      bodyTimeout: call.timeoutMs,
    },
    handler,
  );
}
