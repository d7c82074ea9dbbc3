// The admin listener: probes (/healthz, /readyz), /metrics and the web page without a token, and the
// bearer-token gate in front of /api/*. It never shares a port with the main listener; the API plugs in
// behind the gate (admin/api.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { GatewayError, toGatewayError } from '../gateway/errors.js';
import { sendError, sendJson, sendSuccess } from '../gateway/http/reply.js';
import type { Logger } from '../gateway/logger.js';
import type { PageHandler } from './page.js';

export type AdminApiHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  /** admin.token of the config in force (null: the API is off); read on every /api/* call. */
  readonly token: () => string | null;
  /** Resolves to the names of the dependencies that did not answer; empty = ready. */
  readonly readiness: () => Promise<string[]>;
  readonly api?: AdminApiHandler;
  /** Prometheus text for /metrics. */
  readonly metrics?: () => Promise<{ contentType: string; text: string }>;
  /** The web page at `/` and its assets. */
  readonly page?: PageHandler;
  readonly log: Logger;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Compares hashes so the comparison time depends on neither the token's length nor its content. The
 * expected token is the one `current` names at the call: a reload can rotate it.
 */
export function createTokenCheck(current: () => string | null): (header: string | undefined) => void {
  // The digest of the token in force, computed again only when a reload replaced it.
  let token: string | null = null;
  let expected: Buffer | null = null;
  return (header) => {
    const now = current();
    if (now !== token) {
      token = now;
      expected = now === null ? null : digest(now);
    }
    if (header === undefined || header === '')
      throw new GatewayError('missing_token', { headers: { 'www-authenticate': 'Bearer' } });
    const match = /^Bearer +(\S+)$/i.exec(header);
    const given = digest(match?.[1] ?? '');
    if (expected === null || match === null || !timingSafeEqual(given, expected)) {
      throw new GatewayError('invalid_token', {
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      });
    }
  };
}

export function createAdminServer(options: AdminOptions): Server {
  const checkToken = createTokenCheck(options.token);
  if (options.token() === null)
    options.log.warn({}, 'admin.token is not set: the admin API is off (/api/* answers 401)');

  // One line per authorised API call (the query is left out: it may carry search terms).
  const api = async (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    handler: AdminApiHandler,
  ): Promise<void> => {
    const started = performance.now();
    res.once('close', () => {
      const ms = Math.round((performance.now() - started) * 100) / 100;
      options.log.info({ method: req.method, path, status: res.statusCode, ms }, 'admin request');
    });
    await handler(req, res, path);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/healthz') return sendSuccess(res, 200, 'ok');
    if (path === '/readyz') {
      const failing = await options.readiness();
      if (failing.length === 0) return sendSuccess(res, 200, 'ready');
      return sendJson(res, 503, {
        status: 'failed',
        message: `not ready: ${failing.join(', ')}`,
        code: 'state_unavailable',
      });
    }
    if (path === '/metrics' && options.metrics !== undefined) {
      if (req.method !== 'GET') throw new GatewayError('method_not_allowed', { headers: { allow: 'GET' } });
      const { contentType, text } = await options.metrics();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    if (path === '/api' || path.startsWith('/api/')) {
      const auth = req.headers.authorization;
      if (req.rawHeaders.filter((_, i) => i % 2 === 0 && _.toLowerCase() === 'authorization').length > 1) {
        throw new GatewayError('bad_request', { message: 'Duplicate Authorization header' });
      }
      checkToken(auth);
      if (options.api !== undefined) return api(req, res, path, options.api);
    }
    if (options.page?.(req, res, path) === true) return;
    throw new GatewayError('not_found');
  };

  return createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = toGatewayError(err);
      if (e.status >= 500) options.log.error({ err: e.cause ?? e, path: req.url }, 'admin request failed');
      if (!sendError(res, e)) res.destroy();
    });
  });
}
