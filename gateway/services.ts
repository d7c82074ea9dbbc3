// The long-lived services one gateway process opens at start-up: user store, state store, token
// keys, password hasher, audit writer. Reloads reuse them; only routes and limits are recompiled.
import { dirname, resolve } from 'node:path';
import type { GatewayConfig } from '../config/types.js';
import { type AuditLog, createAuditLog } from './audit.js';
import { gatewayFlowCrypto } from './auth/flows/flow-crypto.js';
import { resealTotpSecrets } from './auth/flows/totp-reseal.js';
import { createPasswordPolicy, type PasswordPolicy } from './auth/password-policy.js';
import { createPasswordHasher, type PasswordHasher } from './auth/passwords.js';
import { createTokenService, type TokenService } from './auth/tokens.js';
import type { Logger } from './logger.js';
import { createStateStore } from './state/create-state-store.js';
import type { LimiterBackend } from './state/limiter.js';
import type { SessionEvents } from './state/session-events.js';
import { type StateStore, tombstoneTtl } from './state/state-store.js';
import { createSqliteUserStore } from './users/sqlite-store.js';
import type { UserStore } from './users/user-store.js';

export interface Services {
  readonly users: UserStore;
  readonly state: StateStore;
  readonly limiters: LimiterBackend;
  /** Session-end events of the state store (every replica hears them). */
  readonly events: SessionEvents;
  readonly tokens: TokenService;
  readonly hasher: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Where generated keys live: beside the SQLite user database (unused with PostgreSQL: keys are files). */
  readonly dataDir: string;
  /**
   * Writes the queued audit records (waiting at most `auditTimeoutMs`; what is still unwritten then is
   * logged as lost), then closes the stores and the hasher.
   */
  close(auditTimeoutMs?: number): Promise<void>;
}

/** Resolves once the store answers and its migrations are applied. */
export async function openUserStore(
  url: string,
  log?: Logger,
  { readOnly = false }: { readonly readOnly?: boolean } = {},
): Promise<{ users: UserStore; dataDir: string }> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    const users = createSqliteUserStore(path, {
      readOnly,
      onCheckpointError: (err) =>
        log?.warn(
          { err },
          'user store: the checkpoint thread failed; checkpoints run on the event loop again',
        ),
    });
    return { users, dataDir: dirname(path) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    // pg is loaded only for a PostgreSQL URL.
    const { createPostgresUserStore } = await import('./users/postgres-store.js');
    const users = await createPostgresUserStore(url, {
      onIdleError: (err) => log?.warn({ err }, 'user store: an idle PostgreSQL connection failed'),
    });
    // No file beside a networked database. The config check requires identity_headers.assertion_key_file
    // with PostgreSQL (replicas must share the key), so nothing is generated here in practice.
    return { users, dataDir: resolve('data') };
  }
  throw new Error(
    `storage.users: ${url.split(':')[0]} user stores are not supported; use sqlite: or postgres://`,
  );
}

/** The state store and the rate-limit backend on the same connection. */
export async function openStateStore(
  config: GatewayConfig,
  log: Logger,
): Promise<{ store: StateStore; limiters: LimiterBackend; events: SessionEvents }> {
  return createStateStore(config.storage.state, {
    tombstoneTtlMs: tombstoneTtl(config.tokens.access_ttl),
    log,
  });
}

/**
 * TOTP secrets sealed with an assertion key being rotated out are sealed again with the current one;
 * secrets no key opens are counted in a warning. A failure is logged, never a reason not to start.
 */
async function resealAfterRotation(users: UserStore, tokens: TokenService, log: Logger): Promise<void> {
  try {
    const { resealed, unreadable } = await resealTotpSecrets(users.accountData, gatewayFlowCrypto(tokens));
    if (resealed > 0) log.info({ resealed }, 'TOTP secrets sealed again with the current assertion key');
    if (unreadable > 0) {
      log.warn(
        { unreadable },
        'TOTP secrets that no assertion key opens: was a key replaced without keeping it as *.previous.pem? Those users need a recovery code',
      );
    }
  } catch (err) {
    log.error({ err }, 'sealing TOTP secrets again after a key rotation failed; the next start retries');
  }
}

export async function createServices(config: GatewayConfig, log: Logger): Promise<Services> {
  const { users, dataDir } = await openUserStore(config.storage.users, log);
  const { store: state, limiters, events } = await openStateStore(config, log);
  const tokens = await createTokenService({
    tokens: config.tokens,
    assertionKeyFile: config.identity_headers.assertion_key_file,
    dataDir,
  });
  if (tokens.assertionKeyGenerated) {
    log.warn({ path: tokens.assertionKeyPath }, 'generated a new assertion signing key; keep this file');
  }
  await resealAfterRotation(users, tokens, log);
  const audit = createAuditLog(users, log);
  const hasher = createPasswordHasher(config.passwords.argon2, {
    log,
    threads: config.passwords.hashing_threads,
  });
  return {
    users,
    state,
    limiters,
    events,
    tokens,
    hasher,
    policy: createPasswordPolicy(config.passwords),
    audit,
    log,
    dataDir,
    async close(auditTimeoutMs = Number.POSITIVE_INFINITY) {
      await audit.close(auditTimeoutMs);
      await state.close();
      await users.close();
      await hasher.close();
    },
  };
}
