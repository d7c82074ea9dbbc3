// The undici adapter: one keep-alive Pool per upstream origin, and a streaming forwarder that pipes
// request and response bodies both ways with backpressure. It does not choose targets or headers.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool, util } from 'undici';

/** What went wrong talking to the upstream, decided from undici's stable error codes. */
export type UpstreamFailure = 'connect' | 'timeout' | 'aborted' | 'failed';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export function classifyUpstreamError(err: Error): UpstreamFailure {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (code === 'UND_ERR_ABORTED') return 'aborted';
  return 'failed';
}

export class PoolRegistry {
  private readonly pools = new Map<string, Pool>();

  get(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      // keepAliveTimeout under the common 5 s server default, so we never reuse a socket the upstream closes.
      pool = new Pool(origin, {
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
        connect: { timeout: 5_000 },
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
  readonly timeoutMs: number;
  readonly res: ServerResponse;
  /**
   * Turns the upstream's headers (flat [name, value, ...], names lowercase, yours to change) into the
   * client's: hop-by-hop removed, ours added.
   */
  readonly responseHeaders: (headers: string[]) => string[];
  /** Called once on failure; `responded` tells whether the client already has the status line. */
  readonly onFailure: (kind: UpstreamFailure, cause: Error, responded: boolean) => void;
  readonly onResponse: (status: number) => void;
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
  private done = false;
  /** Body bytes still expected by Content-Length; -1 when unknown or already ended. */
  private remaining = -1;
  private resumeReading: (() => void) | null = null;
  private readonly call: ProxyCall;
  private readonly resume = (): void => this.resumeReading?.();

  constructor(call: ProxyCall) {
    this.call = call;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortExchange = abort;
    if (this.abortReason !== null) this.abort(this.abortReason);
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    const res = this.call.res;
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
    res.writeHead(statusCode, this.call.responseHeaders(headers));
    // A response without a length is a stream (SSE, chunked): the client must see headers now, not
    // with the first chunk, which may be minutes away.
    if (length === undefined) res.flushHeaders();
    else this.remaining = Number(length);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.call.res;
    if (res.destroyed) return true;
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

  onComplete(): void {
    this.done = true;
    if (!this.call.res.writableEnded) this.call.res.end();
  }

  onError(error: Error): void {
    this.done = true;
    this.call.onFailure(classifyUpstreamError(error), error, this.call.res.headersSent);
  }

  abort(reason: Error): void {
    if (this.abortExchange === null) this.abortReason = reason;
    else if (!this.done) {
      this.done = true;
      this.abortExchange(reason);
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
  call.pool.dispatch(
    {
      path: call.path,
      method: call.method as Dispatcher.HttpMethod,
      headers: call.headers,
      body: call.body,
      headersTimeout: call.timeoutMs,
      bodyTimeout: call.timeoutMs,
    },
    handler,
  );
}
