// Every default of the configuration, in one object, already in the validated units (ms, bytes, Rate).
// It holds values only: the schema applies them, gateway.yaml.example documents them.
import type { GatewayConfig, Rate, RouteConfig } from './types.js';

const rate = (points: number, duration_ms: number, text: string): Rate => ({ points, duration_ms, text });

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const KB = 1024;

type Defaults = Omit<GatewayConfig, 'routes'> & {
  readonly route: Omit<RouteConfig, 'name' | 'path' | 'upstream'>;
};

export const DEFAULTS: Defaults = {
  server: {
    host: '0.0.0.0',
    port: 8080,
    trusted_proxies: [], // none: X-Forwarded-For from clients is never believed
    // Bits: per-address limits and locks count an IPv6 client by its /64, the least one subscriber holds.
    ipv6_limit_prefix: 64,
    body_limit: 1024 * KB, // bytes (1mb), for the endpoints the gateway terminates
    workers: 1,
    // CORS off; allowed_headers: request headers a page may send besides Authorization, Content-Type,
    // DPoP and X-Request-Id (If-Match, Idempotency-Key…).
    cors: { allowed_origins: [], allowed_headers: [] },
    headers_timeout: 10 * SECOND, // ms: the whole header block (slowloris)
    idle_timeout: 60 * SECOND, // ms: a silent connection is closed
    body_timeout: 10 * SECOND, // ms: the whole body of a request the gateway answers itself
    keep_alive_timeout: 5 * SECOND, // ms
    shutdown_timeout: 30 * SECOND, // ms: SIGTERM drain bound
    max_header_size: 16 * KB, // bytes
  },
  admin: {
    host: '127.0.0.1', // loopback: the admin API is not for the internet
    port: 9090,
    token: null, // null: admin API off (answers 401)
    // Refusals at the token gate (no token, a wrong one) one address may get before its /api/* calls are
    // 429 for the rest of the window: guessing a token is bounded like guessing a password.
    token_failures: rate(10, MINUTE, '10/m'),
    // Host names the admin listener answers for, besides IP literals and `localhost` (DNS rebinding: a
    // page whose name was pointed at this address must not read /metrics or the page).
    allowed_hosts: [],
  },
  storage: {
    users: 'sqlite:./data/portcullis.db', // resolved against the config file's folder
    state: 'memory',
    on_state_error: 'deny', // fail closed
  },
  tokens: {
    algorithm: 'HS256',
    secret: null, // required for HS256
    private_key_file: null, // required for EdDSA / ES256
    issuer: 'portcullis',
    audience: 'portcullis',
    access_ttl: 15 * MINUTE, // ms
    refresh_ttl: DAY, // ms
    refresh_reuse_grace: 10 * SECOND, // ms
  },
  sessions: { max_active: 1, on_exceed: 'evict_oldest' },
  device_binding: { mode: 'user-agent', on_mismatch: 'revoke', dpop_nonce: false },
  auth: {
    base_path: '/api/auth',
    profile_path: '/api/users/me',
    profile_cache_ttl: HOUR, // ms
    require_verified_email: false,
    verification_ttl: DAY, // ms
    password_reset_ttl: HOUR, // ms
    email_change_ttl: HOUR, // ms
    new_device_alert: true, // sent only when mail is configured
    alert_link_ttl: 7 * DAY, // ms
    totp_issuer: 'Portcullis',
    totp_challenge_ttl: 5 * MINUTE, // ms
  },
  passwords: {
    min_length: 12, // code points
    max_length: 1024, // code points
    reject_common: true,
    reject_numeric: true,
    reject_similar: true,
    argon2: { memory_kib: 19_456, iterations: 2, parallelism: 1 }, // OWASP Argon2id minimum
    hashing_threads: 0, // one per core
  },
  brute_force: {
    failure_limit: 5, // per (email, client IP)
    account_failure_limit: 50, // per email, from every source
    cooloff: HOUR, // ms
    reset_on_success: true,
  },
  rate_limits: {
    global: { anonymous: rate(100, HOUR, '100/h'), authenticated: rate(100, HOUR, '100/h') },
    login: { per_email: rate(5, MINUTE, '5/m'), per_ip: rate(10, MINUTE, '10/m') },
    register: { per_email: rate(5, MINUTE, '5/m'), per_ip: rate(10, MINUTE, '10/m') },
    verification: { per_email: rate(3, HOUR, '3/h'), per_ip: rate(20, HOUR, '20/h') },
    password_reset: { per_email: rate(3, HOUR, '3/h'), per_ip: rate(20, HOUR, '20/h') },
    email_change: { per_email: rate(3, HOUR, '3/h'), per_user: rate(5, HOUR, '5/h') },
    // 6-digit codes, ±1 step: at 5/m alone a guess is expected in ~46 days; with 50/d, in ~18 years.
    totp: { per_user: rate(5, MINUTE, '5/m'), per_user_daily: rate(50, DAY, '50/d') },
  },
  route: {
    methods: null, // every method
    host: null, // any host
    auth: 'required', // secure default: a route is never public by accident
    roles: [],
    strip_prefix: false,
    rate_limit: null, // only the global limit applies
    timeout: 30 * SECOND, // ms
    websocket: false,
    forward_authorization: false,
    body_limit: null, // bytes; null: streamed, unlimited
    device_binding: null, // the global device_binding.mode
  },
  mail: {
    host: null, // no mail: verification, reset, email change and alerts are off
    port: 587, // submission
    secure: false,
    starttls: true, // STARTTLS required: credentials and reset links never cross in clear
    user: null,
    password: null,
    from: null, // required with host
    public_base_url: null, // required with host
  },
  identity_headers: {
    user_id: 'X-User-Id',
    email: 'X-User-Email',
    roles: 'X-User-Roles',
    session_id: 'X-Session-Id',
    assertion: null, // off
    assertion_key_file: null, // generated once, kept beside the user database
  },
  echo_upstream: null, // the demo echo server is not started
  logging: { level: 'info', format: 'json' },
};
