// The undici adapter: one keep-alive Pool per upstream origin, and a streaming forwarder that pipes
// request and response bodies both ways with backpressure. It does not choose targets or headers.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';

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
  /** Turns the upstream's headers into the client's (hop-by-hop removed, ours added). */
  readonly responseHeaders: (
    headers: Record<string, string | string[] | undefined>,
  ) => Array<string | string[]>;
  /** Called once on failure; `responded` tells whether the client already has the status line. */
  readonly onFailure: (kind: UpstreamFailure, cause: Error, responded: boolean) => void;
  readonly onResponse: (status: number) => void;
}

class ProxyHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private abortReason: Error | null = null;
  /** Body bytes still expected by Content-Length; -1 when unknown or already ended. */
  private remaining = -1;
  private readonly call: ProxyCall;
  private readonly resume = (): void => this.controller?.resume();

  constructor(call: ProxyCall) {
    this.call = call;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== null) controller.abort(this.abortReason);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    const res = this.call.res;
    if (res.destroyed) return;
    this.call.onResponse(statusCode);
    res.writeHead(statusCode, this.call.responseHeaders(headers));
    const length = headers['content-length'];
    // A response without a length is a stream (SSE, chunked): the client must see headers now, not
    // with the first chunk, which may be minutes away.
    if (length === undefined) res.flushHeaders();
    else this.remaining = Number(length);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.call.res;
    if (res.destroyed) return;
    // The whole announced body in one chunk (most API answers): headers, body and end go out in one
    // write instead of two.
    if (chunk.length === this.remaining) {
      this.remaining = -1;
      res.end(chunk);
      return;
    }
    this.remaining -= chunk.length;
    if (!res.write(chunk)) {
      controller.pause();
      res.once('drain', this.resume);
    }
  }

  onResponseEnd(): void {
    if (!this.call.res.writableEnded) this.call.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.call.onFailure(classifyUpstreamError(error), error, this.call.res.headersSent);
  }

  abort(reason: Error): void {
    if (this.controller === null) this.abortReason = reason;
    else if (!this.controller.aborted) this.controller.abort(reason);
  }
}

/** Starts forwarding; returns a function that aborts the upstream exchange (client went away). */
export function proxyHttp(call: ProxyCall): (reason: Error) => void {
  const handler = new ProxyHandler(call);
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
  return (reason) => handler.abort(reason);
}
