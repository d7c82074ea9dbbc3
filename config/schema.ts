// The one config schema (the only module importing zod): shape, unknown keys, leaf types, units, defaults.
// Pure: no I/O. Cross-key rules live in rules.ts; relative paths are resolved by the loader afterwards.
import { z } from 'zod';
import type { PathSegment } from './config-error.js';
import { DEFAULTS as D } from './defaults.js';
import type { PathProblem } from './expand.js';
import { checkMailFrom, checkPublicBaseUrl } from './mail-values.js';
import { checkConfigRules, type PartialConfig } from './rules.js';
import type { GatewayConfig, Rate, RouteConfig } from './types.js';
import {
  type Checked,
  checkAdminHost,
  checkAdminToken,
  checkCorsHeader,
  checkDuration,
  checkEchoUpstream,
  checkHeaderName,
  checkHost,
  checkListenHost,
  checkMethod,
  checkOrigin,
  checkProxy,
  checkRate,
  checkRouteName,
  checkRoutePath,
  checkSize,
  checkSizeWithin,
  checkStateStore,
  checkUpstream,
  checkUsersStore,
  emptyIsNull,
  emptyStringIsNull,
  fromString,
} from './values.js';

const DAY_MS = 86_400_000;
// Node's timers hold at most 2^31-1 ms (24.8 days); a longer one fires after 1 ms. The in-memory limiters
// (rate-limiter-flexible) end a lock with setTimeout, so a longer brute-force lock would never hold.
const TIMER_MAX_MS = 24 * DAY_MS;
const DEVICE_BINDING_MODES = ['off', 'user-agent', 'dpop'] as const;

/** A leaf validated by a pure check; `undefined` reaches it only when the key is required. */
function leaf<T>(check: (input: unknown) => Checked<T>) {
  return z.unknown().transform((input, ctx): T => {
    const r = input === undefined ? ({ ok: false, message: 'is required' } as const) : check(input);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.message });
    return z.NEVER;
  });
}

// `${PORT:-8080}` is a string after expansion; the schema wants the number it spells.
const toNumber = (v: unknown): unknown =>
  typeof v === 'string' && /^[+-]?\d+$/.test(v.trim()) ? Number(v) : v;
const toBoolean = (v: unknown): unknown => (v === 'true' ? true : v === 'false' ? false : v);

// Not z.int(): its implicit ±2^53 bounds would report a huge port twice (beyond 2^53 and beyond 65535).
const int = (min: number, max: number) =>
  z.preprocess(toNumber, z.number().min(min).max(max).refine(Number.isInteger, 'must be an integer'));
const bool = () => z.preprocess(toBoolean, z.boolean());
const text = () => z.string().trim().min(1);
const port = () => int(0, 65_535);
const strings = () => z.array(text());

const duration = (min: number, max?: number) => leaf(checkDuration(min, max));
const size = () => leaf(checkSize);
const optionalSize = () => leaf(emptyIsNull(checkSize));
const rate = () => leaf(checkRate);
const optionalRate = () => leaf(emptyIsNull(checkRate));
const optionalString = () => leaf(fromString(emptyStringIsNull));

const upstreams = () =>
  z.unknown().transform((input, ctx): string[] => {
    const list = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(list) || list.length === 0) {
      const message = input === undefined ? 'is required' : 'must be a URL or a non-empty list of URLs';
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    const out: string[] = [];
    list.forEach((item: unknown, i) => {
      const r = fromString(checkUpstream)(item);
      if (r.ok) out.push(r.value);
      else ctx.addIssue({ code: 'custom', message: r.message, path: typeof input === 'string' ? [] : [i] });
    });
    return out;
  });

const methods = () =>
  z
    .array(leaf(fromString(checkMethod)))
    .min(1)
    .transform((list) => [...new Set(list)])
    .nullable()
    .default(null);

export const routeSchema = z.strictObject({
  name: leaf(fromString(checkRouteName)),
  path: leaf(fromString(checkRoutePath)),
  methods: methods(),
  host: leaf(fromString(checkHost)).default(D.route.host),
  upstream: upstreams(),
  auth: z.enum(['required', 'optional', 'public']).default(D.route.auth),
  roles: strings().default(() => [...D.route.roles]),
  strip_prefix: bool().default(D.route.strip_prefix),
  rate_limit: optionalRate().default(D.route.rate_limit),
  timeout: duration(1, DAY_MS).default(D.route.timeout),
  websocket: bool().default(D.route.websocket),
  forward_authorization: bool().default(D.route.forward_authorization),
  body_limit: optionalSize().default(D.route.body_limit),
  device_binding: z.enum(DEVICE_BINDING_MODES).nullable().default(D.route.device_binding),
});

const serverSchema = z.strictObject({
  host: leaf(fromString(checkListenHost)).default(D.server.host),
  port: port().default(D.server.port),
  trusted_proxies: z.array(leaf(fromString(checkProxy))).default(() => [...D.server.trusted_proxies]),
  // Below /32 one key would span whole providers (a /32 is a typical allocation to one).
  ipv6_limit_prefix: int(32, 128).default(D.server.ipv6_limit_prefix),
  body_limit: size().default(D.server.body_limit),
  workers: int(1, 256).default(D.server.workers),
  cors: z
    .strictObject({
      allowed_origins: z
        .array(leaf(fromString(checkOrigin)))
        .default(() => [...D.server.cors.allowed_origins]),
      allowed_headers: z
        .array(leaf(fromString(checkCorsHeader)))
        .default(() => [...D.server.cors.allowed_headers]),
    })
    .prefault({}),
  headers_timeout: duration(1, DAY_MS).default(D.server.headers_timeout),
  idle_timeout: duration(1, DAY_MS).default(D.server.idle_timeout),
  body_timeout: duration(1, DAY_MS).default(D.server.body_timeout),
  keep_alive_timeout: duration(1, DAY_MS).default(D.server.keep_alive_timeout),
  shutdown_timeout: duration(0, DAY_MS).default(D.server.shutdown_timeout),
  // Below 1kb nearly every request is a 431; 0 would fall back to Node's default; above 1mb is no limit.
  max_header_size: leaf(checkSizeWithin(1024, 1024 * 1024, '1kb to 1mb')).default(D.server.max_header_size),
});

const adminSchema = z.strictObject({
  host: leaf(fromString(checkListenHost)).default(D.admin.host),
  port: port().default(D.admin.port),
  token: leaf(fromString(checkAdminToken)).default(D.admin.token),
  token_failures: rate().default(D.admin.token_failures),
  allowed_hosts: z.array(leaf(fromString(checkAdminHost))).default(() => [...D.admin.allowed_hosts]),
});

const storageSchema = z.strictObject({
  users: leaf(fromString(checkUsersStore)).default(D.storage.users),
  state: leaf(fromString(checkStateStore)).default(D.storage.state),
  on_state_error: z.enum(['deny', 'allow']).default(D.storage.on_state_error),
});

const tokensSchema = z.strictObject({
  algorithm: z.enum(['HS256', 'EdDSA', 'ES256']).default(D.tokens.algorithm),
  secret: optionalString().default(D.tokens.secret),
  private_key_file: optionalString().default(D.tokens.private_key_file),
  issuer: text().default(D.tokens.issuer),
  audience: text().default(D.tokens.audience),
  access_ttl: duration(1000).default(D.tokens.access_ttl),
  refresh_ttl: duration(1000).default(D.tokens.refresh_ttl),
  refresh_reuse_grace: duration(0).default(D.tokens.refresh_reuse_grace),
});

const authSchema = z.strictObject({
  base_path: leaf(fromString(checkRoutePath)).default(D.auth.base_path),
  profile_path: leaf(fromString(checkRoutePath)).default(D.auth.profile_path),
  profile_cache_ttl: duration(0).default(D.auth.profile_cache_ttl),
  require_verified_email: bool().default(D.auth.require_verified_email),
  verification_ttl: duration(60_000, 30 * DAY_MS).default(D.auth.verification_ttl),
  password_reset_ttl: duration(60_000, DAY_MS).default(D.auth.password_reset_ttl),
  email_change_ttl: duration(60_000, 30 * DAY_MS).default(D.auth.email_change_ttl),
  new_device_alert: bool().default(D.auth.new_device_alert),
  alert_link_ttl: duration(60_000, 30 * DAY_MS).default(D.auth.alert_link_ttl),
  totp_issuer: text().max(64).default(D.auth.totp_issuer),
  totp_challenge_ttl: duration(10_000, 3_600_000).default(D.auth.totp_challenge_ttl),
});

const mailSchema = z.strictObject({
  host: optionalString().default(D.mail.host),
  port: int(1, 65_535).default(D.mail.port),
  secure: bool().default(D.mail.secure),
  starttls: bool().default(D.mail.starttls),
  user: optionalString().default(D.mail.user),
  password: optionalString().default(D.mail.password),
  from: leaf(fromString(checkMailFrom)).default(D.mail.from),
  public_base_url: leaf(fromString(checkPublicBaseUrl)).default(D.mail.public_base_url),
});

const passwordsSchema = z.strictObject({
  min_length: int(1, 4096).default(D.passwords.min_length),
  max_length: int(1, 4096).default(D.passwords.max_length),
  reject_common: bool().default(D.passwords.reject_common),
  reject_numeric: bool().default(D.passwords.reject_numeric),
  reject_similar: bool().default(D.passwords.reject_similar),
  argon2: z
    .strictObject({
      memory_kib: int(8, 4_194_304).default(D.passwords.argon2.memory_kib),
      iterations: int(1, 100).default(D.passwords.argon2.iterations),
      parallelism: int(1, 16).default(D.passwords.argon2.parallelism),
    })
    .prefault({}),
  hashing_threads: int(0, 256).default(D.passwords.hashing_threads),
});

const bruteForceSchema = z.strictObject({
  failure_limit: int(1, 1_000_000).default(D.brute_force.failure_limit),
  account_failure_limit: int(1, 1_000_000).default(D.brute_force.account_failure_limit),
  cooloff: duration(1000, TIMER_MAX_MS).default(D.brute_force.cooloff),
  reset_on_success: bool().default(D.brute_force.reset_on_success),
});

/** One group of rate limits: each key of `defaults` a rate, defaulting to its value there. */
function rateGroup<K extends string>(defaults: Readonly<Record<K, Rate>>) {
  const shape = Object.fromEntries(
    Object.entries<Rate>(defaults).map(([key, value]) => [key, rate().default(value)]),
  ) as { [P in K]: z.ZodDefault<ReturnType<typeof rate>> };
  const group = z.strictObject(shape);
  // Every key has a default, so an absent group is `{}` (zod cannot see that through the generic K).
  return group.prefault({} as z.input<typeof group>);
}

const L = D.rate_limits;
const rateLimitsSchema = z.strictObject({
  global: rateGroup(L.global),
  login: rateGroup(L.login),
  register: rateGroup(L.register),
  verification: rateGroup(L.verification),
  password_reset: rateGroup(L.password_reset),
  email_change: rateGroup(L.email_change),
  totp: rateGroup(L.totp),
});

const headerName = () => leaf(fromString(checkHeaderName));
const identityHeadersSchema = z.strictObject({
  user_id: headerName().default(D.identity_headers.user_id),
  email: headerName().default(D.identity_headers.email),
  roles: headerName().default(D.identity_headers.roles),
  session_id: headerName().default(D.identity_headers.session_id),
  assertion: leaf(emptyIsNull(fromString(checkHeaderName))).default(D.identity_headers.assertion),
  assertion_key_file: optionalString().default(D.identity_headers.assertion_key_file),
});

const loggingSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(D.logging.level),
  format: z.enum(['json', 'pretty']).default(D.logging.format),
});

const sections = {
  server: serverSchema,
  admin: adminSchema,
  storage: storageSchema,
  tokens: tokensSchema,
  sessions: z.strictObject({
    max_active: int(1, 1000).default(D.sessions.max_active),
    on_exceed: z.enum(['evict_oldest', 'reject_new']).default(D.sessions.on_exceed),
  }),
  device_binding: z.strictObject({
    mode: z.enum(DEVICE_BINDING_MODES).default(D.device_binding.mode),
    on_mismatch: z.enum(['revoke', 'reject']).default(D.device_binding.on_mismatch),
    dpop_nonce: bool().default(D.device_binding.dpop_nonce),
  }),
  auth: authSchema,
  passwords: passwordsSchema,
  brute_force: bruteForceSchema,
  rate_limits: rateLimitsSchema,
  mail: mailSchema,
  identity_headers: identityHeadersSchema,
  logging: loggingSchema,
};

export const gatewaySchema = z.strictObject({
  server: sections.server.prefault({}),
  admin: sections.admin.prefault({}),
  storage: sections.storage.prefault({}),
  tokens: sections.tokens.prefault({}),
  sessions: sections.sessions.prefault({}),
  device_binding: sections.device_binding.prefault({}),
  auth: sections.auth.prefault({}),
  passwords: sections.passwords.prefault({}),
  brute_force: sections.brute_force.prefault({}),
  rate_limits: sections.rate_limits.prefault({}),
  routes: z.array(routeSchema).default(() => []),
  mail: sections.mail.prefault({}),
  identity_headers: sections.identity_headers.prefault({}),
  echo_upstream: leaf(fromString(checkEchoUpstream)).default(D.echo_upstream),
  logging: sections.logging.prefault({}),
});

// Compile-time proof that what the schema produces is what the rest of the gateway codes against.
type SchemaOutput = z.output<typeof gatewaySchema>;
type Assert<T extends true> = T;
export type SchemaMatchesTypes = Assert<SchemaOutput extends GatewayConfig ? true : false>;
export type RouteSchemaMatchesTypes = Assert<z.output<typeof routeSchema> extends RouteConfig ? true : false>;

type ZodIssue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

const KIND: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

/** Our wording for zod's own issues; custom issues already carry theirs. */
function describe(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${KIND[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${String(issue.values[0])}`
        : `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      if (issue.origin === 'string') return 'must not be empty';
      if (issue.origin === 'array') return 'must not be empty';
      return `must be at least ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'string'
        ? `must be at most ${issue.maximum} characters`
        : `must be at most ${issue.maximum}`;
    default:
      return undefined;
  }
}

function toProblems(issues: readonly ZodIssue[]): PathProblem[] {
  const out: PathProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((s): s is PathSegment => typeof s !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...path, key], message: 'unknown key' });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

type Shape = Record<string, z.ZodType>;
type PartialOf<S extends Shape> = { [K in keyof S]?: z.output<S[K]> };

/** Each key parsed alone, so a rule can still judge the keys that are valid when a neighbour is not. */
function partialOf<S extends Shape>(shape: S, raw: unknown): PartialOf<S> | undefined {
  if (raw !== undefined && !isRecord(raw)) return undefined;
  const out: PartialOf<S> = {};
  for (const key of Object.keys(shape) as (keyof S & string)[]) {
    const r = shape[key]?.safeParse(raw?.[key]);
    if (r?.success) out[key] = r.data as z.output<S[keyof S & string]>;
  }
  return out;
}

function partialConfig(root: Record<string, unknown>): PartialConfig {
  const routes = Array.isArray(root.routes) ? root.routes : [];
  const echo = gatewaySchema.shape.echo_upstream.safeParse(root.echo_upstream);
  return {
    server: partialOf(sections.server.shape, root.server),
    admin: partialOf(sections.admin.shape, root.admin),
    storage: partialOf(sections.storage.shape, root.storage),
    tokens: partialOf(sections.tokens.shape, root.tokens),
    auth: partialOf(sections.auth.shape, root.auth),
    passwords: partialOf(sections.passwords.shape, root.passwords),
    brute_force: partialOf(sections.brute_force.shape, root.brute_force),
    mail: partialOf(sections.mail.shape, root.mail),
    identity_headers: partialOf(sections.identity_headers.shape, root.identity_headers),
    routes: routes.map((raw: unknown, index) => ({ index, route: partialOf(routeSchema.shape, raw) ?? {} })),
    echo_upstream: echo.success ? echo.data : undefined,
  };
}

export type Validation =
  | { readonly ok: true; readonly config: GatewayConfig }
  | { readonly ok: false; readonly problems: readonly PathProblem[] };

/** Validates expanded config data: schema issues and cross-key rules, all of them at once. */
export function validateConfig(root: unknown): Validation {
  const parsed = gatewaySchema.safeParse(root, { error: describe });
  const problems = parsed.success ? [] : toProblems(parsed.error.issues);
  if (isRecord(root)) problems.push(...checkConfigRules(partialConfig(root)));
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  return { ok: true, config: parsed.data };
}
