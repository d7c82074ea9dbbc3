// The endpoints the gateway terminates itself (register, login, refresh, logout, profile, JWKS),
// declared as internal routes so they pass the same stages (rate limits, authentication) as any route.
import { JWKS_PATH } from '../../config/rules.js';
import type { GatewayConfig, RouteConfig } from '../../config/types.js';
import { stringField } from '../http/json-body.js';
import { rateLimitHeaders } from '../http/rate-limit-headers.js';
import { sendJson, sendSuccess } from '../http/reply.js';
import type { RequestContext } from '../pipeline/context.js';
import type { LimitState } from '../state/limiter.js';
import { NAME_MAX_LENGTH } from '../users/names.js';
import type { Accounts, ClientMeta } from './accounts.js';
import type { TokenService } from './tokens.js';

/** The parsed JSON body an endpoint's handler gets; empty for an endpoint that takes none. */
export type JsonBody = Readonly<Record<string, unknown>>;

export interface Endpoint {
  /** false: the Authorization header is not read at all (login must work with a stale token attached). */
  readonly readsToken: boolean;
  /**
   * 'json': the own-endpoints stage reads the body as a JSON object and hands it to `handle`. 'none': a
   * body sent anyway must still be JSON within the limit (DESIGN: "Bodies"); it is read and dropped.
   */
  readonly body: 'json' | 'none';
  handle(ctx: RequestContext, body: JsonBody): Promise<void>;
}

export interface EndpointRoute {
  readonly config: RouteConfig;
  readonly endpoint: Endpoint;
  /**
   * true: the router sends it only its own path (a trailing '/' allowed); false: also the paths below it,
   * which the endpoint parses itself (`DELETE <profile_path>/sessions/:id`).
   */
  readonly exact: boolean;
}

/**
 * The paths the gateway answers at and below (DESIGN's request flow terminates them here): a request
 * there that none of its endpoints takes is 404, never forwarded to a route with a shorter prefix.
 */
export function reservedPaths(config: GatewayConfig): readonly string[] {
  return [config.auth.base_path, config.auth.profile_path, JWKS_PATH];
}

function meta(ctx: RequestContext): ClientMeta {
  return {
    ip: ctx.clientIp,
    ipKey: ctx.clientIpKey,
    userAgent: ctx.req.headers['user-agent'] ?? '',
    dpopJkt: ctx.dpopJkt,
    client: ctx,
  };
}

/**
 * The most constrained of every limit that applied to this request, written on the reply. `extra`
 * (an endpoint's own limits) joins the request's limits, so a later call (the answer's) still counts
 * them: a password-reset answer carried the global limit instead of the per-address one it passed.
 */
function withLimits(ctx: RequestContext, extra: readonly LimitState[]): void {
  ctx.limits.push(...extra);
  const headers = rateLimitHeaders(ctx.limits, false);
  for (const name in headers) ctx.res.setHeader(name, headers[name]!);
}

function route(
  config: GatewayConfig,
  name: string,
  path: string,
  method: string,
  auth: RouteConfig['auth'],
): RouteConfig {
  return {
    name: `portcullis:${name}`,
    path,
    methods: [method],
    host: null,
    upstream: [],
    auth,
    roles: [],
    strip_prefix: true,
    rate_limit: null,
    timeout: 30_000,
    websocket: false,
    forward_authorization: false,
    body_limit: config.server.body_limit,
    device_binding: null, // the global mode: it decides whether login and refresh need a proof
  };
}

export function createEndpointRoutes(
  config: GatewayConfig,
  accounts: Accounts,
  tokens: TokenService,
): EndpointRoute[] {
  const base = config.auth.base_path;

  const register: Endpoint = {
    readsToken: false,
    body: 'json',
    async handle(ctx, b) {
      const input = {
        email: stringField(b, 'email', 254),
        password: stringField(b, 'password', 4 * config.passwords.max_length),
        password_confirm: stringField(b, 'password_confirm', 4 * config.passwords.max_length),
        first_name: stringField(b, 'first_name', NAME_MAX_LENGTH),
        last_name: stringField(b, 'last_name', NAME_MAX_LENGTH),
      };
      const user = await accounts.register(input, meta(ctx), (limits) => withLimits(ctx, limits));
      sendSuccess(ctx.res, 201, 'Registration successful', user);
    },
  };

  const login: Endpoint = {
    readsToken: false,
    body: 'json',
    async handle(ctx, b) {
      const input = {
        email: stringField(b, 'email', 320),
        // Longer than any valid password but bounded: the policy's maximum is enforced as a failed login.
        password: stringField(b, 'password', 4 * config.passwords.max_length),
        device_token: typeof b.device_token === 'string' ? b.device_token : undefined,
      };
      const result = await accounts.login(input, meta(ctx), (limits) => withLimits(ctx, limits));
      sendSuccess(
        ctx.res,
        200,
        'challenge' in result ? 'Two-factor code required' : 'Login successful',
        result,
      );
    },
  };

  const refresh: Endpoint = {
    readsToken: false,
    body: 'json',
    async handle(ctx, b) {
      // A missing field is a malformed request (400 naming it), not a bad token.
      const presented = stringField(b, 'refresh', 256);
      if (ctx.refuseReplayedProof !== null) await ctx.refuseReplayedProof(presented);
      const pair = await accounts.refresh(presented, meta(ctx));
      withLimits(ctx, []);
      sendSuccess(ctx.res, 200, 'Token refreshed', pair);
    },
  };

  const logout: Endpoint = {
    readsToken: true,
    body: 'none',
    async handle(ctx) {
      await accounts.logout(ctx.claims!, meta(ctx));
      withLimits(ctx, []);
      sendSuccess(ctx.res, 200, 'Logout successful');
    },
  };

  const me: Endpoint = {
    readsToken: true,
    body: 'none',
    async handle(ctx) {
      const json = await accounts.profile(ctx.identity!.userId);
      withLimits(ctx, []);
      const payload = `{"status":"success","message":"Profile","data":${json}}`;
      ctx.res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(payload),
        'cache-control': 'no-store',
      });
      ctx.res.end(ctx.req.method === 'HEAD' ? undefined : payload);
    },
  };

  const jwks: Endpoint = {
    readsToken: false,
    body: 'none',
    async handle(ctx) {
      withLimits(ctx, []);
      // A bare JWK Set (RFC 7517 §5), not the envelope: JOSE libraries fetch it as is.
      sendJson(ctx.res, 200, tokens.jwks(), { 'cache-control': 'public, max-age=300' });
    },
  };

  return [
    {
      config: route(config, 'register', `${base}/register`, 'POST', 'public'),
      endpoint: register,
      exact: true,
    },
    { config: route(config, 'login', `${base}/login`, 'POST', 'public'), endpoint: login, exact: true },
    { config: route(config, 'refresh', `${base}/refresh`, 'POST', 'public'), endpoint: refresh, exact: true },
    { config: route(config, 'logout', `${base}/logout`, 'POST', 'required'), endpoint: logout, exact: true },
    {
      config: route(config, 'profile', config.auth.profile_path, 'GET', 'required'),
      endpoint: me,
      exact: true,
    },
    { config: route(config, 'jwks', JWKS_PATH, 'GET', 'public'), endpoint: jwks, exact: true },
  ];
}

/** The same helpers for the account flows' endpoints (flows/flow-endpoints.ts). */
export { meta as requestMeta, route as endpointRoute, withLimits };
