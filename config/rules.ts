// Cross-key rules (HS256 secret length, workers vs storage, listener ports, route clashes, reserved paths).
// Pure and schema-free: it judges whichever keys parsed; a key that failed its own check is skipped here.
import { isIP } from 'node:net';
import type { PathSegment } from './config-error.js';
import type { PathProblem } from './expand.js';
import type { GatewayConfig, RouteConfig } from './types.js';
import { canonicalHeader } from './values.js';

type Part<T> = { readonly [K in keyof T]?: T[K] };

export interface PartialConfig {
  readonly server: Part<GatewayConfig['server']> | undefined;
  readonly admin: Part<GatewayConfig['admin']> | undefined;
  readonly storage: Part<GatewayConfig['storage']> | undefined;
  readonly tokens: Part<GatewayConfig['tokens']> | undefined;
  readonly auth: Part<GatewayConfig['auth']> | undefined;
  readonly passwords: Part<GatewayConfig['passwords']> | undefined;
  readonly brute_force: Part<GatewayConfig['brute_force']> | undefined;
  readonly mail: Part<GatewayConfig['mail']> | undefined;
  readonly identity_headers: Part<GatewayConfig['identity_headers']> | undefined;
  readonly routes: readonly { readonly index: number; readonly route: Part<RouteConfig> }[];
  readonly echo_upstream: GatewayConfig['echo_upstream'] | undefined;
}

/** Paths the gateway answers itself: a route there would be dead or, worse, shadow a login endpoint. */
export const JWKS_PATH = '/.well-known/jwks.json';

const MIN_HS256_SECRET_BYTES = 32;

type Report = (path: PathSegment[], message: string) => void;

function tokenRules(c: PartialConfig, report: Report): void {
  const t = c.tokens;
  if (!t?.algorithm) return;
  if (t.algorithm === 'HS256') {
    if (t.secret === null) report(['tokens', 'secret'], 'is required when tokens.algorithm is HS256');
    // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
    else if (t.secret !== undefined && Buffer.byteLength(t.secret, 'utf8') < MIN_HS256_SECRET_BYTES) {
      report(['tokens', 'secret'], `must be at least ${MIN_HS256_SECRET_BYTES} bytes (UTF-8) for HS256`);
    }
  } else if (t.private_key_file === null) {
    report(['tokens', 'private_key_file'], `is required when tokens.algorithm is ${t.algorithm}`);
  }
}

function deploymentRules(c: PartialConfig, report: Report): void {
  const workers = c.server?.workers;
  if (workers !== undefined && workers > 1) {
    const local: string[] = [];
    if (c.storage?.state === 'memory') local.push('storage.state: memory');
    if (c.storage?.users?.startsWith('sqlite:')) local.push('storage.users: sqlite');
    if (local.length > 0) {
      report(
        ['server', 'workers'],
        `workers > 1 needs shared storage, not ${local.join(' and ')}: ` +
          'use a redis:// URL for storage.state and a postgres:// URL for storage.users',
      );
    }
  }
  // Replicas on one PostgreSQL database would each generate their own assertion key (and device
  // tokens derive from it): a token or device cookie from one replica would fail on the next.
  if (/^postgres(ql)?:/.test(c.storage?.users ?? '') && c.identity_headers?.assertion_key_file === null) {
    report(
      ['identity_headers', 'assertion_key_file'],
      'is required when storage.users is PostgreSQL: every replica must share one assertion key ' +
        '(create it with portcullis keygen --algorithm EdDSA --out FILE)',
    );
  }
  const p = c.passwords;
  if (p?.min_length !== undefined && p.max_length !== undefined && p.max_length < p.min_length) {
    report(['passwords', 'max_length'], 'must be at least passwords.min_length');
  }
  const b = c.brute_force;
  if (b?.failure_limit !== undefined && b.account_failure_limit !== undefined) {
    if (b.account_failure_limit < b.failure_limit) {
      report(['brute_force', 'account_failure_limit'], 'must be at least brute_force.failure_limit');
    }
  }
}

/** The addresses a listen host stands for, as far as a pure check can tell (no DNS). */
function addressesOf(host: string): string[] {
  const bare = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return bare === 'localhost' ? ['127.0.0.1', '::1'] : [bare];
}

/** Could two listeners on these hosts collide on one port? The wildcards take every address of theirs. */
function hostsOverlap(a: string, b: string): boolean {
  return addressesOf(a).some((x) =>
    addressesOf(b).some(
      (y) =>
        x === y ||
        // `::` is dual-stack in Node (IPv4 too); `0.0.0.0` takes every IPv4 address and any host name.
        x === '::' ||
        y === '::' ||
        (x === '0.0.0.0' && isIP(y) !== 6) ||
        (y === '0.0.0.0' && isIP(x) !== 6),
    ),
  );
}

/** A port the gateway listens on: the key that sets it (as named in messages), its host and port. */
export interface Listener {
  readonly key: 'server.port' | 'admin.port' | 'echo_upstream';
  readonly path: PathSegment[];
  readonly host: string;
  readonly port: number;
}

/** The listeners a config opens (main, admin, echo upstream), as far as their host and port are known. */
export function listenersOf(c: Pick<PartialConfig, 'server' | 'admin' | 'echo_upstream'>): Listener[] {
  const all: (Omit<Listener, 'host' | 'port'> & { host?: string; port?: number })[] = [
    { key: 'server.port', path: ['server', 'port'], host: c.server?.host, port: c.server?.port },
    { key: 'admin.port', path: ['admin', 'port'], host: c.admin?.host, port: c.admin?.port },
    {
      key: 'echo_upstream',
      path: ['echo_upstream'],
      host: c.echo_upstream?.host,
      port: c.echo_upstream?.port,
    },
  ];
  return all.filter((l): l is Listener => l.host !== undefined && l.port !== undefined);
}

/** Every pair of listeners: the second would fail at start with EADDRINUSE. */
function listenerRules(c: PartialConfig, report: Report): void {
  const listeners = listenersOf(c);
  listeners.forEach((l, i) => {
    // Port 0 is any free port: never the same as another listener's.
    if (l.port === 0) return;
    const other = listeners.slice(0, i).find((o) => o.port === l.port && hostsOverlap(o.host, l.host));
    if (other === undefined) return;
    report(
      l.path,
      l.key === 'echo_upstream' ? `must use another port than ${other.key}` : `must differ from ${other.key}`,
    );
  });
}

function identityHeaderRules(c: PartialConfig, report: Report): void {
  const h = c.identity_headers;
  if (!h) return;
  const seen = new Map<string, string>();
  for (const key of ['user_id', 'email', 'roles', 'session_id', 'assertion'] as const) {
    const name = h[key];
    if (typeof name !== 'string') continue;
    const other = seen.get(canonicalHeader(name));
    // Two identities in one header: the upstream would read one value as the other.
    if (other) report(['identity_headers', key], `same header as identity_headers.${other}`);
    else seen.set(canonicalHeader(name), key);
  }
}

const withHead = (methods: readonly string[]): readonly string[] =>
  methods.includes('GET') && !methods.includes('HEAD') ? [...methods, 'HEAD'] : methods;

const under = (path: string, prefix: string): boolean =>
  path === prefix || path.startsWith(prefix === '/' ? '/' : `${prefix}/`);

function routeRules(c: PartialConfig, report: Report): void {
  const reserved: [string | undefined, string][] = [
    [c.auth?.base_path, 'auth.base_path'],
    [c.auth?.profile_path, 'auth.profile_path'],
    [JWKS_PATH, JWKS_PATH],
  ];
  for (const key of ['base_path', 'profile_path'] as const) {
    // `/` would put every route under the gateway's own endpoints.
    if (c.auth?.[key] === '/') report(['auth', key], 'must not be /');
  }
  const names = new Map<string, number>();
  c.routes.forEach(({ index, route: r }, pos) => {
    if (r.name !== undefined) {
      const first = names.get(r.name);
      if (first !== undefined) report(['routes', index, 'name'], `same name as routes[${first}]`);
      else names.set(r.name, index);
    }
    if (r.roles && r.roles.length > 0 && r.auth !== undefined && r.auth !== 'required') {
      report(
        ['routes', index, 'roles'],
        `need auth: required (an anonymous caller has no roles, auth is ${r.auth})`,
      );
    }
    const path = r.path;
    if (path === undefined) return;
    for (const [prefix, label] of reserved) {
      if (prefix !== undefined && under(path, prefix)) {
        report(['routes', index, 'path'], `is served by the gateway itself (${label}) and cannot be routed`);
        break;
      }
    }
    // Longest-prefix matching has no way to choose between two identical candidates.
    const mine = r.methods;
    if (r.host === undefined || mine === undefined) return;
    for (const { index: j, route: o } of c.routes.slice(0, pos)) {
      const theirs = o.methods;
      if (o.path !== path || o.host !== r.host || theirs === undefined) continue;
      const direct = mine === null || theirs === null || mine.some((m) => theirs.includes(m));
      // The router serves HEAD with a GET route: a HEAD route beside it would quietly take HEAD over.
      const viaHead =
        !direct &&
        mine !== null &&
        theirs !== null &&
        withHead(mine).some((m) => withHead(theirs).includes(m));
      if (!direct && !viaHead) continue;
      const name = o.name === undefined ? '' : ` "${o.name}"`;
      const why = viaHead ? ' (a GET route serves HEAD too)' : '';
      report(['routes', index, 'path'], `same host, path and methods as routes[${j}]${name}${why}`);
      break;
    }
  });
}

/** Mail is all or nothing: a host without a sender or link base would fail at the first send. */
function mailRules(c: PartialConfig, report: Report): void {
  const m = c.mail;
  const on = typeof m?.host === 'string';
  if (on) {
    if (m?.from === null) report(['mail', 'from'], 'is required when mail.host is set');
    if (m?.public_base_url === null) report(['mail', 'public_base_url'], 'is required when mail.host is set');
    if ((m?.user === null) !== (m?.password === null) && m?.user !== undefined && m.password !== undefined) {
      report(['mail', m.user === null ? 'user' : 'password'], 'is required with the other SMTP credential');
    }
  }
  if (c.auth?.require_verified_email === true && m?.host === null) {
    report(['auth', 'require_verified_email'], 'needs mail.host: users could never receive the link');
  }
}

export function checkConfigRules(c: PartialConfig): PathProblem[] {
  const problems: PathProblem[] = [];
  const report: Report = (path, message) => problems.push({ path, message });
  tokenRules(c, report);
  deploymentRules(c, report);
  listenerRules(c, report);
  identityHeaderRules(c, report);
  mailRules(c, report);
  routeRules(c, report);
  return problems;
}
