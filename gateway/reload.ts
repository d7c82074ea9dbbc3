// What a reload can and cannot change: the keys read only at start (listeners, stores, keys, the hasher,
// the logger), the report every reload answers with, and its log lines. No I/O, no cluster logic here.
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from './logger.js';

/**
 * Keys whose value is taken once, when the process starts: what was built from them keeps the old value
 * until a restart. Each entry is read by the module named beside it; a key not listed here takes effect
 * on reload. `tokens.access_ttl` and `passwords.max_length` are also read from the runtime config by a
 * few checks and answers (expires_in, length caps), which is why a change must be reported: only a
 * restart makes both sides agree.
 */
const RESTART_ONLY: ReadonlyArray<readonly [string, (c: GatewayConfig) => unknown]> = [
  ['server.host', (c) => c.server.host], // listeners (gateway.ts)
  ['server.port', (c) => c.server.port],
  ['server.workers', (c) => c.server.workers], // the primary forks them (cluster.ts)
  ['server.headers_timeout', (c) => c.server.headers_timeout], // node:http server options (server.ts)
  ['server.idle_timeout', (c) => c.server.idle_timeout],
  ['server.keep_alive_timeout', (c) => c.server.keep_alive_timeout],
  ['server.max_header_size', (c) => c.server.max_header_size],
  ['server.shutdown_timeout', (c) => c.server.shutdown_timeout],
  ['admin.host', (c) => c.admin.host],
  ['admin.port', (c) => c.admin.port],
  ['storage.users', (c) => c.storage.users], // the stores (services.ts)
  ['storage.state', (c) => c.storage.state],
  ['tokens.algorithm', (c) => c.tokens.algorithm], // the token service and its keys (auth/tokens.ts)
  ['tokens.secret', (c) => c.tokens.secret],
  ['tokens.private_key_file', (c) => c.tokens.private_key_file],
  ['tokens.issuer', (c) => c.tokens.issuer],
  ['tokens.audience', (c) => c.tokens.audience],
  ['tokens.access_ttl', (c) => c.tokens.access_ttl], // also the state store's tombstone lifetime
  ['identity_headers.assertion_key_file', (c) => c.identity_headers.assertion_key_file],
  ['passwords.min_length', (c) => c.passwords.min_length], // the password policy (services.ts)
  ['passwords.max_length', (c) => c.passwords.max_length],
  ['passwords.reject_common', (c) => c.passwords.reject_common],
  ['passwords.reject_numeric', (c) => c.passwords.reject_numeric],
  ['passwords.reject_similar', (c) => c.passwords.reject_similar],
  ['passwords.argon2.memory_kib', (c) => c.passwords.argon2.memory_kib], // the hashing threads
  ['passwords.argon2.iterations', (c) => c.passwords.argon2.iterations],
  ['passwords.argon2.parallelism', (c) => c.passwords.argon2.parallelism],
  ['passwords.hashing_threads', (c) => c.passwords.hashing_threads],
  ['echo_upstream', (c) => c.echo_upstream],
  ['logging.level', (c) => c.logging.level], // the logger (cli.ts)
  ['logging.format', (c) => c.logging.format],
];

/** What a reload to `next` leaves undone, and whether it rotates the admin token. */
export interface ReloadChange {
  /** Restart-only keys whose value changed, as key paths (never their values: some are secrets). */
  readonly restartRequired: readonly string[];
  /** admin.token is applied on reload: it is only compared with the Authorization header of /api/*. */
  readonly adminTokenChanged: boolean;
}

/**
 * `started` is the config the process started with (what the restart-only keys still run on, however many
 * reloads came since: a key changed by an earlier reload is reported again), `current` the one in force.
 */
export function changeOf(started: GatewayConfig, current: GatewayConfig, next: GatewayConfig): ReloadChange {
  return {
    restartRequired: RESTART_ONLY.filter(([, read]) => !isDeepStrictEqual(read(started), read(next))).map(
      ([key]) => key,
    ),
    adminTokenChanged: current.admin.token !== next.admin.token,
  };
}

/** The lines a successful reload adds: restart-only keys left undone (warn) and a rotated admin token. */
export function logChange(log: Logger, change: ReloadChange): void {
  if (change.restartRequired.length > 0) {
    log.warn(
      { restart_required: change.restartRequired },
      'config reload: these keys changed but take effect only after a restart',
    );
  }
  if (change.adminTokenChanged) {
    log.info({}, 'config reload: admin.token changed; /api/* takes the new token (none: the API is off)');
  }
}

/** Identifies a loaded config: workers that parsed the same bytes must arrive at the same one. */
export function fingerprintOf(config: GatewayConfig): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('base64url');
}

export type ReloadReport =
  | (ReloadChange & {
      readonly ok: true;
      /** The generation every worker runs now. */
      readonly generation: number;
      /** The processes that swapped their config: 1 without workers. */
      readonly workers: number;
    })
  | {
      readonly ok: false;
      /** The generation still in force (a commit some worker did not confirm has moved it on). */
      readonly generation: number;
      /** `invalid_config`: the file was refused; `worker_failed`: a worker did not answer or disagreed. */
      readonly reason: 'invalid_config' | 'worker_failed';
      /** The config's problems (keys and lines, never values) or which workers failed and why. */
      readonly error: string;
    };

export function reloadFailed(
  generation: number,
  reason: 'invalid_config' | 'worker_failed',
  error: string,
): ReloadReport {
  return { ok: false, generation, reason, error };
}

/** A report as it arrives over IPC from the primary, checked before it is believed. */
export function isReloadReport(value: unknown): value is ReloadReport {
  if (value === null || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  if (typeof r.generation !== 'number') return false;
  if (r.ok === true) {
    return (
      typeof r.workers === 'number' &&
      typeof r.adminTokenChanged === 'boolean' &&
      Array.isArray(r.restartRequired) &&
      r.restartRequired.every((k) => typeof k === 'string')
    );
  }
  return (
    r.ok === false &&
    (r.reason === 'invalid_config' || r.reason === 'worker_failed') &&
    typeof r.error === 'string'
  );
}
