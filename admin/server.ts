// The admin listener: probes (/healthz, /readyz) without a token, and the bearer-token gate in front
// of /api/*. It never shares a port with the main listener; the API handlers plug in behind the gate.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { GatewayError, toGatewayError } from '../gateway/errors.js';
import { sendError, sendJson, sendSuccess } from '../gateway/http/reply.js';
import type { Logger } from '../gateway/logger.js';

export type AdminApiHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string | null;
  /** Resolves to the names of the dependencies that did not answer; empty = ready. */
  readonly readiness: () => Promise<string[]>;
  readonly api?: AdminApiHandler;
  readonly log: Logger;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Compares hashes so the comparison time depends on neither the token's length nor its content. */
export function createTokenCheck(token: string | null): (header: string | undefined) => void {
  const expected = token === null ? null : digest(token);
  return (header) => {
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
  if (options.token === null)
    options.log.warn({}, 'admin.token is not set: the admin API is off (/api/* answers 401)');

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
    if (path === '/api' || path.startsWith('/api/')) {
      const auth = req.headers.authorization;
      if (req.rawHeaders.filter((_, i) => i % 2 === 0 && _.toLowerCase() === 'authorization').length > 1) {
        throw new GatewayError('bad_request', { message: 'Duplicate Authorization header' });
      }
      checkToken(auth);
      if (options.api !== undefined) return options.api(req, res, path);
    }
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
