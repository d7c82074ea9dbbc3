// The admin listener: probes (/healthz, /readyz), /metrics and the web page without a token, the
// bearer-token gate in front of /api/* with one log line per API call, and the same answers to HTTP-level
// garbage as the main listener. It never shares a port with it; the API plugs in behind the gate (admin/api.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { GatewayError, toGatewayError } from '../gateway/errors.js';
import { answerClientError } from '../gateway/http/client-error.js';
import { logFailure } from '../gateway/http/failure-log.js';
import { rateLimitHeaders } from '../gateway/http/rate-limit-headers.js';
import { sendError, sendJson, sendSuccess } from '../gateway/http/reply.js';
import { limitKey } from '../gateway/ip-network.js';
import type { Logger } from '../gateway/logger.js';
import { authorizationHeader } from '../gateway/pipeline/authenticate.js';
import { checkRequestHead, MAX_HEADER_FIELDS } from '../gateway/pipeline/check-host.js';
import type { Limiter, LimitState } from '../gateway/state/limiter.js';
import type { PageHandler } from './page.js';

export type AdminApiHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  /** admin.token of the config in force (null: the API is off); read on every /api/* call. */
  readonly token: () => string | null;
  /** admin.allowed_hosts of the config in force: the names answered besides IP literals and localhost. */
  readonly allowedHosts: () => readonly string[];
  /** The limiter of admin.token_failures in force: refusals at the token gate per client address and window. */
  readonly tokenGate: () => Limiter;
  /** server.ipv6_limit_prefix in force: the gate counts an IPv6 client by this network, as the main port does. */
  readonly ipv6LimitPrefix: () => number;
  /** The names of the dependencies that did not answer (empty: ready), and whether the gateway drains. */
  readonly readiness: () => Promise<{ readonly draining: boolean; readonly failing: readonly string[] }>;
  readonly api?: AdminApiHandler;
  /** Prometheus text for /metrics. */
  readonly metrics?: () => Promise<{ contentType: string; text: string }>;
  /** The web page at `/` and its assets. */
  readonly page?: PageHandler;
  /** Counts each API call by the status answered (0: none was sent). */
  readonly countApiRequest?: (status: number) => void;
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

/** The probes and /metrics are read-only: GET, and HEAD for the same headers without the body. */
function readOnly(req: IncomingMessage): void {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    throw new GatewayError('method_not_allowed', { headers: { allow: 'GET, HEAD' } });
}

/** A refusal at the token gate is logged at warn: a run of them is someone guessing the admin token. */
const GATE_CODES: ReadonlySet<string> = new Set(['missing_token', 'invalid_token']);

export interface GateGuard {
  /** Throws 429 rate_limited while `ip` has used up its refusals for the window (a call with the right token). */
  check(ip: string): Promise<void>;
  /** Counts a refusal at the token gate against `ip`, then throws `refusal`, or 429 once they are used up. */
  refused(ip: string, refusal: unknown): Promise<never>;
}

/**
 * Brute-force protection for the admin token, as for passwords: every refusal at the gate (no token, a
 * wrong one) counts against the client's address before it is answered, and once `admin.token_failures`
 * is used up its /api/* calls are 429 until the window ends, the right token included (a guesser learns
 * nothing more, however many guesses it sends at once). One warn line says so; the 429s are logged at
 * info, so a guessing run cannot flood the log. Counted in the state store (every worker and replica
 * shares the window); a reload that changes the rate gets the limiter of the new rate. `ip` is the peer's
 * address; its refusals count under its limit key (an IPv6 peer's network: its neighbours share the window).
 */
export function createGateGuard(current: () => Limiter, ipv6Prefix: () => number, log: Logger): GateGuard {
  const locked = (state: LimitState): GatewayError =>
    new GatewayError('rate_limited', {
      message: 'Too many failed admin token attempts from this address',
      headers: rateLimitHeaders([state], true),
    });
  return {
    async check(ip) {
      const state = await current().peek(limitKey(ip, ipv6Prefix()));
      if (state.consumed >= state.limit) throw locked(state);
    },
    async refused(ip, refusal) {
      const key = limitKey(ip, ipv6Prefix());
      const state = await current().consume(key);
      if (!state.allowed) throw locked(state);
      if (state.consumed === state.limit) {
        log.warn(
          { ip, key, refusals: state.limit, retry_after_s: Math.max(1, Math.ceil(state.resetMs / 1000)) },
          'admin token: too many refusals from one address; its /api/* calls are refused until the window ends',
        );
      }
      throw refusal;
    },
  };
}

/** Host names every admin listener answers for: no DNS rebinding can make a page's origin one of these. */
const ALWAYS = new Set(['localhost']);

export function createAdminServer(options: AdminOptions): Server {
  /**
   * DNS rebinding: a page at attacker.example whose name is then pointed at this address reads the
   * answers in the victim's browser, as its own origin. Its Host is its own name, so only names the
   * operator listed are answered (IP literals cannot be rebound: a page is never served from one by
   * surprise).
   */
  const checkAuthority = (host: string): void => {
    if (host.charCodeAt(0) === 0x5b || isIP(host) !== 0 || ALWAYS.has(host)) return;
    if (options.allowedHosts().includes(host)) return;
    throw new GatewayError('misdirected_request', {
      message: `This listener does not answer for the host ${JSON.stringify(host.slice(0, 253))}: add it to admin.allowed_hosts`,
      close: true,
    });
  };
  const checkToken = createTokenCheck(options.token);
  const { log } = options;
  const guard = createGateGuard(options.tokenGate, options.ipv6LimitPrefix, log);
  if (options.token() === null)
    log.warn({}, 'admin.token is not set: the admin API is off (/api/* answers 401)');
  // The response being written on each keep-alive socket, for the clientError handler (as on the main port).
  const answering = new WeakMap<Duplex, ServerResponse>();

  // One line (and one count) per API call, refused ones included. The query is left out: it may carry
  // search terms. Nothing from the Authorization header is ever logged.
  const api = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const started = performance.now();
    let code: string | undefined;
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : 0;
      options.countApiRequest?.(status);
      const line = {
        method: req.method,
        path,
        status: status === 0 ? undefined : status,
        code,
        ms: Math.round((performance.now() - started) * 100) / 100,
        ip: req.socket.remoteAddress,
        aborted: res.writableFinished ? undefined : true,
      };
      if (code !== undefined && GATE_CODES.has(code)) log.warn(line, 'admin request');
      else log.info(line, 'admin request');
    });
    try {
      checkAuthority(checkRequestHead(req));
      const authorization = authorizationHeader(req);
      const ip = req.socket.remoteAddress ?? '';
      try {
        checkToken(authorization);
      } catch (err) {
        await guard.refused(ip, err);
      }
      await guard.check(ip);
      if (options.api === undefined) throw new GatewayError('not_found');
      await options.api(req, res, path);
    } catch (err) {
      const e = toGatewayError(err);
      code = e.code;
      throw e;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/api' || path.startsWith('/api/')) return api(req, res, path);
    checkAuthority(checkRequestHead(req));
    if (path === '/healthz') {
      readOnly(req);
      return sendSuccess(res, 200, 'ok');
    }
    if (path === '/readyz') {
      readOnly(req);
      const { draining, failing } = await options.readiness();
      if (failing.length === 0) return sendSuccess(res, 200, 'ready');
      return sendJson(res, 503, {
        status: 'failed',
        message: `not ready: ${failing.join(', ')}`,
        // A draining gateway says so (its stores may be fine); otherwise the store that did not answer.
        code: draining
          ? 'shutting_down'
          : failing.includes('state store')
            ? 'state_unavailable'
            : 'users_unavailable',
      });
    }
    if (path === '/metrics' && options.metrics !== undefined) {
      readOnly(req);
      const { contentType, text } = await options.metrics();
      res.writeHead(200, {
        'content-type': contentType,
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
      });
      res.end(text);
      return;
    }
    if (options.page?.(req, res, path) === true) return;
    throw new GatewayError('not_found');
  };

  const server = createServer(
    {
      // Node's own Host check answers outside the envelope: checkRequestHead does it instead.
      requireHostHeader: false,
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      // Node enforces both timeouts only when it checks its connections (every 30 s by default): a slow
      // head would hold its socket for up to 40 s instead of 10.
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      answering.set(req.socket, res);
      res.once('close', () => {
        if (answering.get(req.socket) === res) answering.delete(req.socket);
      });
      handle(req, res).catch((err: unknown) => {
        const e = toGatewayError(err);
        // As on the main listener: an outage (503) at warn with its cause's message, a bug with its stack.
        logFailure(log, e, { path: (req.url ?? '').split('?')[0] }, 'admin request failed');
        if (!sendError(res, e)) res.destroy();
      });
    },
  );
  // As on the main listener: Node drops the fields past this count silently, so a second Host or
  // Authorization placed after them would dodge the duplicate checks; checkRequestHead refuses the excess.
  server.maxHeadersCount = MAX_HEADER_FIELDS + 1;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
    answerClientError(err, socket, answering),
  );
  return server;
}
