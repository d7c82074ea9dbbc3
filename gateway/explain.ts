// Explains what the pipeline would decide for one request, check by check and in the pipeline's order,
// using the real modules (path canonicaliser, router, token verification). It forwards nothing, counts
// no rate limit, revokes nothing and records no DPoP jti: it only reads.
import { METHODS } from 'node:http';
import type { DeviceBindingMode, GatewayConfig } from '../config/types.js';
import type { Accounts } from './auth/accounts.js';
import { dpopInUse, routeBinding } from './auth/binding.js';
import { DpopRejection } from './auth/dpop.js';
import { createEndpointRoutes, reservedPaths } from './auth/endpoints.js';
import { flowRouteDeclarations } from './auth/flows/index.js';
import type { AccessClaims, TokenService } from './auth/tokens.js';
import { TokenRejection } from './auth/tokens.js';
import { userAgentHash } from './auth/user-agent.js';
import { ERROR_TABLE, type ErrorCode, GatewayError } from './errors.js';
import { verifyBearer } from './pipeline/authenticate.js';
import { type ParsedTarget, parseTarget } from './routing/canonical-path.js';
import { normalizeHost } from './routing/host.js';
import { createRouter, type RouteMatch, type Router } from './routing/router.js';
import type { CompiledRoute } from './runtime.js';
import type { AccessCheck, SessionRecord, StateStore } from './state/state-store.js';
import { createBalancer } from './upstream/balancer.js';

export type Outcome = 'pass' | 'fail' | 'skip';

export interface ExplainStep {
  readonly check: string;
  readonly outcome: Outcome;
  readonly detail: string;
  readonly code?: ErrorCode;
}

export interface Explanation {
  readonly method: string;
  readonly url: string;
  readonly route: string | null;
  /** The matched route's effective device binding (its own, else the global mode); null: no route matched. */
  readonly device_binding: DeviceBindingMode | null;
  readonly steps: readonly ExplainStep[];
  readonly decision: {
    readonly allowed: boolean;
    readonly status: number;
    readonly code?: ErrorCode;
    readonly detail: string;
  };
}

export interface ExplainInput {
  readonly method: string;
  /** `http://host[:port]/path?query`, or an origin-form `/path?query` with `host`. */
  readonly url: string;
  readonly host?: string;
  /** The raw access token; sent as `Authorization: Bearer`, or `DPoP` when `dpop` is given. */
  readonly token?: string;
  readonly userAgent?: string;
  readonly dpop?: string;
}

export interface ExplainDeps {
  readonly config: GatewayConfig;
  readonly router: Router<CompiledRoute>;
  readonly tokens: TokenService;
  /** null: sessions cannot be read from here; `stateNote` says why. */
  readonly state: StateStore | null;
  readonly stateNote?: string;
  /** Checks the DPoP binding without recording the proof (no side effects); absent = not available here. */
  readonly checkDpop?: (claims: AccessClaims, input: ExplainInput, url: string) => Promise<string>;
}

const CHECKS = [
  'path',
  'host',
  'route',
  'authentication',
  'device binding',
  'session state',
  'rate limits',
  'authorization',
] as const;

type Check = (typeof CHECKS)[number];

/** Raised inside explainRequest to stop at the first failing check, as the pipeline does. */
class Stop extends Error {}

function describeError(err: unknown): { code: ErrorCode; detail: string } {
  if (!(err instanceof GatewayError)) throw err;
  // The reason the gateway gives in its challenge too (a proof's htm, its age…), not only the code.
  const cause =
    err.cause instanceof TokenRejection || err.cause instanceof DpopRejection
      ? ` (${err.cause.message})`
      : '';
  return { code: err.code, detail: `${err.code}: ${err.message}${cause}` };
}

function splitUrl(input: ExplainInput): { scheme: string; host: string; target: string } {
  // Not `new URL()`: it would resolve dot segments and re-encode escapes, hiding what the gateway refuses.
  const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(input.url);
  if (m !== null) return { scheme: m[1]!.toLowerCase(), host: m[2]!, target: m[3] === '' ? '/' : m[3]! };
  if (input.host === undefined) {
    throw new GatewayError('validation_failed', {
      message: 'url: give an absolute http(s) URL, or a path with a host',
    });
  }
  return { scheme: 'http', host: input.host, target: input.url };
}

/** The method rule of both explain entry points (admin API and CLI): 1-16 letters, like GET. */
export function isExplainMethod(method: string): boolean {
  return /^[A-Za-z]{1,16}$/.test(method);
}

const ago = (seconds: number): string => (seconds >= 0 ? `in ${seconds} s` : `${-seconds} s ago`);

export async function explainRequest(input: ExplainInput, deps: ExplainDeps): Promise<Explanation> {
  const { config } = deps;
  // As sent: the gateway's HTTP parser refuses a lower-case or unknown method (400) before any check.
  const method = input.method;
  const steps: ExplainStep[] = [];
  let failure: { code: ErrorCode; detail: string } | null = null;
  let match: RouteMatch<CompiledRoute> | null = null;
  let claims: AccessClaims | null = null;
  let session: SessionRecord | null = null;

  const pass = (check: Check, detail: string): void => {
    steps.push({ check, outcome: 'pass', detail });
  };
  const skip = (check: Check, detail: string): void => {
    steps.push({ check, outcome: 'skip', detail });
  };
  // A declaration, not an arrow: calls to it then narrow types like a throw does.
  function fail(check: Check, code: ErrorCode, detail: string): never {
    steps.push({ check, outcome: 'fail', detail, code });
    failure = { code, detail };
    throw new Stop();
  }
  const attempt = <T>(check: Check, op: () => T): T => {
    try {
      return op();
    } catch (err) {
      const { code, detail } = describeError(err);
      return fail(check, code, detail);
    }
  };

  const { scheme, host, target: rawTarget } = splitUrl(input);
  try {
    if (!METHODS.includes(method)) {
      fail(
        'path',
        'bad_request',
        `bad_request: the HTTP parser refuses the method ${JSON.stringify(method)} (methods are case-sensitive: GET, POST, …)`,
      );
    }
    const target: ParsedTarget = attempt('path', () => parseTarget(rawTarget));
    pass('path', `canonical segments /${target.segments.join('/')} (matched on these; the query is not)`);
    const normal = attempt('host', () => normalizeHost(host));
    pass('host', `${normal} (Host ${host})`);
    match = attempt('route', () => deps.router.match(normal, method, target));
    const route = match.entry.config;
    const mode = match.entry.deviceBinding;
    const modeFrom = route.device_binding === null ? 'device_binding.mode' : 'the route';
    pass(
      'route',
      match.entry.endpoint !== undefined
        ? `${route.name}: the gateway's own endpoint, answered here, never forwarded (device binding ${mode})`
        : `${route.name} (path ${route.path}, auth ${route.auth}${route.roles.length > 0 ? `, roles ${route.roles.join('|')}` : ''}, device binding ${mode} from ${modeFrom})`,
    );

    // authentication
    if (match.entry.endpoint?.readsToken === false) {
      skip('authentication', 'this endpoint never reads the Authorization header');
    } else if (input.token === undefined || input.token === '') {
      if (route.auth === 'required' || route.roles.length > 0)
        fail('authentication', 'missing_token', 'no token, and the route requires one');
      pass('authentication', `anonymous (route auth: ${route.auth})`);
    } else {
      // The same parse and checks as the authenticate stage; `--dpop` means the DPoP scheme was used.
      const header = `${input.dpop === undefined ? 'Bearer' : 'DPoP'} ${input.token}`;
      try {
        claims = await verifyBearer(deps.tokens, header, dpopInUse(config));
      } catch (err) {
        const { code, detail } = describeError(err);
        fail('authentication', code, detail);
      }
      const c = claims!;
      const left = c.exp - Math.floor(Date.now() / 1000);
      pass(
        'authentication',
        `valid ${config.tokens.algorithm} access token: sub ${c.sub}, sid ${c.sid}, expires ${ago(left)}`,
      );
    }

    // device binding: the same order of rules as the device-binding stage
    const bound = claims !== null && (claims.cnf !== undefined || input.dpop !== undefined);
    if (claims === null) skip('device binding', 'no token');
    else if (bound && !dpopInUse(config)) {
      fail(
        'device binding',
        'device_mismatch',
        'a DPoP-bound token, and no route of this gateway takes DPoP',
      );
    } else if (bound && deps.checkDpop === undefined) {
      skip('device binding', 'a DPoP-bound token: its proof is not checked here');
    } else if (bound) {
      const url = `${scheme}://${host}${rawTarget.split('?')[0]}`;
      try {
        const verdict = await deps.checkDpop!(claims, input, url);
        pass(
          'device binding',
          mode === 'dpop'
            ? verdict
            : `${verdict} (a DPoP-bound token needs its proof on a ${mode} route too)`,
        );
      } catch (err) {
        const { code, detail } = describeError(err);
        fail('device binding', code, detail);
      }
    } else if (mode === 'dpop') {
      fail(
        'device binding',
        'device_mismatch',
        'the route requires a DPoP-bound token (cnf.jkt); this one is not bound to a key',
      );
    } else if (mode === 'off') skip('device binding', `device binding off (${modeFrom})`);
    else {
      const ua = input.userAgent ?? '';
      if (claims.dev === undefined || claims.dev !== userAgentHash(ua)) {
        const then =
          config.device_binding.on_mismatch === 'revoke'
            ? 'the session would be revoked'
            : 'only this request refused';
        fail(
          'device binding',
          'device_mismatch',
          `the User-Agent ${JSON.stringify(ua)} is not the one that logged in; ${then} (explain revokes nothing)`,
        );
      }
      pass('device binding', 'the User-Agent is the one that logged in');
    }

    // session state
    if (claims === null) skip('session state', 'no token');
    else if (deps.state === null) skip('session state', `not checked: ${deps.stateNote ?? 'no state store'}`);
    else {
      const c = claims;
      let check: AccessCheck | null = null;
      try {
        check = await deps.state.checkAccess(c.sub, c.sid, c.jti);
      } catch (err) {
        const { code, detail } = describeError(err);
        if (config.storage.on_state_error !== 'allow') fail('session state', code, detail);
        skip('session state', `${detail}; skipped under on_state_error: allow`);
      }
      if (check !== null) {
        if (!check.ok) fail('session state', check.reason, `${check.reason}: no live session ${c.sid}`);
        if (!check.session.active) fail('session state', 'token_revoked', 'the user is disabled');
        session = check.session;
        pass('session state', `session ${session.sid} is live (roles ${session.roles.join(',') || 'none'})`);
      }
    }

    // rate limits
    const g = config.rate_limits.global;
    const v6 = config.server.ipv6_limit_prefix;
    const who =
      claims === null ? `per client IP${v6 < 128 ? ` (an IPv6 client by its /${v6})` : ''}` : 'per user';
    const limits = [
      ...(route.rate_limit === null ? [] : [`route ${route.rate_limit.text}`]),
      `global ${(claims === null ? g.anonymous : g.authenticated).text}`,
    ];
    skip('rate limits', `not consumed (explain does not count): ${limits.join(', ')} ${who}`);

    // authorization
    if (route.roles.length === 0) pass('authorization', 'the route requires no role');
    else {
      const roles = session?.roles ?? claims?.roles ?? [];
      const from = session !== null ? 'session' : 'token (the session was not read)';
      if (!roles.some((r) => route.roles.includes(r)))
        fail(
          'authorization',
          'forbidden',
          `the ${from} roles [${roles.join(',')}] hold none of ${route.roles.join('|')}`,
        );
      pass('authorization', `the ${from} roles hold one of ${route.roles.join('|')}`);
    }
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
  }

  for (const check of CHECKS) if (!steps.some((s) => s.check === check)) skip(check, 'not reached');
  steps.sort((a, b) => CHECKS.indexOf(a.check as Check) - CHECKS.indexOf(b.check as Check));
  const route = match?.entry.config.name ?? null;
  const device_binding = match?.entry.deviceBinding ?? null;
  const failed = failure as { code: ErrorCode; detail: string } | null;
  const answer = { method, url: input.url, route, device_binding, steps };
  if (failed !== null) {
    const status = ERROR_TABLE[failed.code].status;
    return { ...answer, decision: { allowed: false, status, code: failed.code, detail: failed.detail } };
  }
  const entry = match!.entry;
  const detail =
    entry.endpoint !== undefined
      ? `answered by the gateway (${entry.config.name})`
      : `forwarded to ${entry.config.upstream.join(' | ')} as ${method} ${match!.forwardPath}`;
  return { ...answer, decision: { allowed: true, status: 200, detail } };
}

const NOT_HERE = (): Promise<never> => Promise.reject(new Error('explain never runs an endpoint'));

/** The router the gateway would build from `config`: its own endpoints and the configured routes. */
export function explainRouter(config: GatewayConfig, tokens: TokenService): Router<CompiledRoute> {
  // The endpoints' handlers are never called here; only their route configs and readsToken flags matter.
  const accounts: Accounts = {
    register: NOT_HERE,
    login: NOT_HERE,
    refresh: NOT_HERE,
    logout: NOT_HERE,
    profile: NOT_HERE,
    completeLogin: NOT_HERE,
  };
  const own = [...createEndpointRoutes(config, accounts, tokens), ...flowRouteDeclarations(config)].map(
    (r) => ({ ...r, balancer: createBalancer([]), deviceBinding: routeBinding(config, r.config) }),
  );
  const routes = config.routes.map((route) => ({
    config: route,
    balancer: createBalancer(route.upstream),
    deviceBinding: routeBinding(config, route),
  }));
  return createRouter<CompiledRoute>([...own, ...routes], reservedPaths(config));
}
