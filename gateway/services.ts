// The long-lived services one gateway process opens at start-up: user store, state store, token
// keys, password hasher, audit writer. Reloads reuse them; only routes and limits are recompiled.
import { dirname } from 'node:path';
import type { GatewayConfig } from '../config/types.js';
import { type AuditLog, createAuditLog } from './audit.js';
import { createPasswordPolicy, type PasswordPolicy } from './auth/password-policy.js';
import { createPasswordHasher, type PasswordHasher } from './auth/passwords.js';
import { createTokenService, type TokenService } from './auth/tokens.js';
import type { Logger } from './logger.js';
import { createStateStore } from './state/create-state-store.js';
import type { LimiterBackend } from './state/limiter.js';
import { type StateStore, tombstoneTtl } from './state/state-store.js';
import { createSqliteUserStore } from './users/sqlite-store.js';
import type { UserStore } from './users/user-store.js';

export interface Services {
  readonly users: UserStore;
  readonly state: StateStore;
  readonly limiters: LimiterBackend;
  readonly tokens: TokenService;
  readonly hasher: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Where generated keys live: beside the SQLite user database. */
  readonly dataDir: string;
  close(): Promise<void>;
}

export function openUserStore(url: string): { users: UserStore; dataDir: string } {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return { users: createSqliteUserStore(path), dataDir: dirname(path) };
  }
  throw new Error(
    `storage.users: ${url.split(':')[0]} user stores are not available in this version; use sqlite:`,
  );
}

/** The state store and the rate-limit backend on the same connection. */
export async function openStateStore(
  config: GatewayConfig,
  log: Logger,
): Promise<{ store: StateStore; limiters: LimiterBackend }> {
  return createStateStore(config.storage.state, {
    tombstoneTtlMs: tombstoneTtl(config.tokens.access_ttl),
    log,
  });
}

export async function createServices(config: GatewayConfig, log: Logger): Promise<Services> {
  const { users, dataDir } = openUserStore(config.storage.users);
  const { store: state, limiters } = await openStateStore(config, log);
  const tokens = await createTokenService({
    tokens: config.tokens,
    assertionKeyFile: config.identity_headers.assertion_key_file,
    dataDir,
  });
  if (tokens.assertionKeyGenerated) {
    log.warn({ path: tokens.assertionKeyPath }, 'generated a new assertion signing key; keep this file');
  }
  const audit = createAuditLog(users, log);
  return {
    users,
    state,
    limiters,
    tokens,
    hasher: createPasswordHasher(config.passwords.argon2),
    policy: createPasswordPolicy(config.passwords),
    audit,
    log,
    dataDir,
    async close() {
      await audit.flush();
      await state.close();
      await users.close();
    },
  };
}
