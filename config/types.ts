// The validated, frozen configuration as the rest of the gateway sees it.
// Units are normalised: durations in milliseconds, sizes in bytes, rates as points per window.
// The YAML key names are kept as they are (snake_case) so docs, errors and code say the same thing.

/** `100/h` → { points: 100, duration_ms: 3_600_000, text: '100/h' } */
export interface Rate {
  readonly points: number;
  readonly duration_ms: number;
  readonly text: string;
}

export type AuthMode = 'required' | 'optional' | 'public';
export type TokenAlgorithm = 'HS256' | 'EdDSA' | 'ES256';
export type DeviceBindingMode = 'off' | 'user-agent' | 'dpop';

export interface RouteConfig {
  readonly name: string;
  /** Normalised prefix: starts with '/', no trailing '/' unless it is exactly '/'. */
  readonly path: string;
  /** Upper-case method names; null means every method. */
  readonly methods: readonly string[] | null;
  /** Lower-case host without port; null matches any host. */
  readonly host: string | null;
  /** Origins (`http://127.0.0.1:3000`), no path; several are balanced round robin. */
  readonly upstream: readonly string[];
  readonly auth: AuthMode;
  readonly roles: readonly string[];
  readonly strip_prefix: boolean;
  readonly rate_limit: Rate | null;
  readonly timeout: number; // ms
  readonly websocket: boolean;
  readonly forward_authorization: boolean;
  readonly body_limit: number | null; // bytes; null = streamed, unlimited
  /** This route's device binding; null = `device_binding.mode` (resolved once, in runtime.ts). */
  readonly device_binding: DeviceBindingMode | null;
}

export interface GatewayConfig {
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly trusted_proxies: readonly string[]; // CIDRs or single addresses
    /** Per-address limits and locks count an IPv6 client by this network prefix (128: the whole address). */
    readonly ipv6_limit_prefix: number;
    readonly body_limit: number; // bytes
    readonly workers: number;
    readonly cors: {
      readonly allowed_origins: readonly string[];
      readonly allowed_headers: readonly string[];
    };
    readonly headers_timeout: number; // ms: the whole header block must arrive within it (slowloris)
    readonly idle_timeout: number; // ms: a connection silent this long is closed (slow bodies)
    readonly body_timeout: number; // ms: an own endpoint's whole body must arrive within it
    readonly keep_alive_timeout: number; // ms
    readonly shutdown_timeout: number; // ms: SIGTERM waits this long for in-flight requests
    readonly max_header_size: number; // bytes
  };
  readonly admin: {
    readonly host: string;
    readonly port: number;
    readonly token: string | null; // null = admin API off
    readonly token_failures: Rate; // refusals at the /api/* token gate per client address, then 429
    readonly allowed_hosts: readonly string[]; // Host names answered besides IP literals and localhost
  };
  readonly storage: {
    readonly users: string; // `sqlite:/abs/path.db` (resolved) or postgres://…
    readonly state: string; // `memory` or redis://…
    readonly on_state_error: 'deny' | 'allow';
  };
  readonly tokens: {
    readonly algorithm: TokenAlgorithm;
    readonly secret: string | null;
    readonly private_key_file: string | null; // absolute after loading
    readonly issuer: string;
    readonly audience: string;
    readonly access_ttl: number; // ms
    readonly refresh_ttl: number; // ms
    readonly refresh_reuse_grace: number; // ms
  };
  readonly sessions: {
    readonly max_active: number;
    readonly on_exceed: 'evict_oldest' | 'reject_new';
  };
  readonly device_binding: {
    readonly mode: DeviceBindingMode;
    readonly on_mismatch: 'revoke' | 'reject';
    /** DPoP mode: proofs must carry a server nonce (RFC 9449 §9), handed out in `DPoP-Nonce`. */
    readonly dpop_nonce: boolean;
  };
  readonly auth: {
    readonly base_path: string;
    readonly profile_path: string;
    readonly profile_cache_ttl: number; // ms
    /** true: a user whose email is not verified cannot log in (403 email_not_verified). Needs mail. */
    readonly require_verified_email: boolean;
    readonly verification_ttl: number; // ms: lifetime of an email verification link
    readonly password_reset_ttl: number; // ms: lifetime of a password reset token
    readonly email_change_ttl: number; // ms: lifetime of an email change confirmation link
    /** Mail the user when a login comes from a device and network they never logged in from. */
    readonly new_device_alert: boolean;
    readonly alert_link_ttl: number; // ms: lifetime of the "this was not me" link in that mail
    readonly totp_issuer: string; // the issuer shown by authenticator apps
    readonly totp_challenge_ttl: number; // ms: how long a login waits for its TOTP code
  };
  readonly passwords: {
    readonly min_length: number;
    readonly max_length: number;
    readonly reject_common: boolean;
    readonly reject_numeric: boolean;
    readonly reject_similar: boolean;
    readonly argon2: {
      readonly memory_kib: number;
      readonly iterations: number;
      readonly parallelism: number;
    };
    readonly hashing_threads: number; // 0: one per core
  };
  readonly brute_force: {
    readonly failure_limit: number;
    readonly account_failure_limit: number;
    readonly cooloff: number; // ms
    readonly reset_on_success: boolean;
  };
  readonly rate_limits: {
    readonly global: { readonly anonymous: Rate; readonly authenticated: Rate };
    readonly login: { readonly per_email: Rate; readonly per_ip: Rate };
    readonly register: { readonly per_email: Rate; readonly per_ip: Rate };
    /** Resending the verification mail. */
    readonly verification: { readonly per_email: Rate; readonly per_ip: Rate };
    readonly password_reset: { readonly per_email: Rate; readonly per_ip: Rate };
    /** Email-change requests: the confirmation mail per new address, and the requests per account. */
    readonly email_change: { readonly per_email: Rate; readonly per_user: Rate };
    /** TOTP and recovery code attempts (login, confirm, disable), per user. */
    readonly totp: { readonly per_user: Rate; readonly per_user_daily: Rate };
  };
  readonly routes: readonly RouteConfig[];
  /** SMTP for the account flows' mail; `host: null` = no mail (flows that need it are not served). */
  readonly mail: {
    readonly host: string | null;
    readonly port: number;
    readonly secure: boolean; // TLS from the first byte (SMTPS, port 465)
    readonly starttls: boolean; // without `secure`: STARTTLS required (false: plain SMTP)
    readonly user: string | null;
    readonly password: string | null;
    readonly from: string | null;
    /** Every mailed link starts with it (no trailing slash); never taken from a request's Host. */
    readonly public_base_url: string | null;
  };
  readonly identity_headers: {
    readonly user_id: string;
    readonly email: string;
    readonly roles: string;
    readonly session_id: string;
    readonly assertion: string | null; // null = off
    readonly assertion_key_file: string | null; // absolute; null = generated beside the user database
  };
  /** The bundled echo server for trying the gateway out (`host:port`); null = not started. */
  readonly echo_upstream: { readonly host: string; readonly port: number } | null;
  readonly logging: {
    readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    readonly format: 'json' | 'pretty';
  };
}

/** Where the config came from: relative paths were resolved against `dir`. */
export interface ConfigSource {
  readonly file: string | null;
  readonly dir: string;
}

export interface LoadedConfig {
  readonly config: GatewayConfig;
  readonly source: ConfigSource;
  /** Human warnings (e.g. a generated secret is in use); the loader never logs itself. */
  readonly warnings: readonly string[];
}
