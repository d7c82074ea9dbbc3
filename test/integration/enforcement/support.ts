import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { generateKeyPem } from '../../../gateway/auth/keys.js';
import { createPasswordPolicy } from '../../../gateway/auth/password-policy.js';
import { createOperations, type Operations } from '../../../gateway/operations.js';
import { sqliteExec } from '../../../gateway/users/sqlite-store.js';
import {
  type BaseOverrides,
  startTestGateway,
  TEST_ADMIN_TOKEN,
  TEST_SECRET,
  type TestGateway,
} from '../../support/gateway.js';
import type { Reply } from '../accounts/support.js';
import { newUser, PASSWORD } from '../accounts/support.js';

export { expectFailure, newUser, OTHER_UA, PASSWORD, type Reply, UA } from '../accounts/support.js';

import { type CallOptions, call } from '../accounts/support.js';

export const WRONG = 'definitely-not-the-password';
export const FAST_ARGON2 = 'passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }';

export interface Limits {
  readonly anonymous?: string;
  readonly authenticated?: string;
  readonly loginEmail?: string;
  readonly loginIp?: string;
  readonly registerEmail?: string;
  readonly registerIp?: string;
}

/**
 * A child gateway's config on shared stores (users in `users`, state in `state`, the assertion key
 * file `key` that PostgreSQL requires): loopback listeners, the test secrets, cheap hashes, open limits
 * and the enforcement routes. `server` and `tokens` add entries to those maps.
 */
export function sharedStoresYaml(o: {
  readonly users: string;
  readonly state: string;
  readonly key: string;
  readonly upstream: string;
  readonly server?: string;
  readonly tokens?: string;
}): string {
  const more = (extra: string | undefined): string => (extra === undefined ? '' : `, ${extra}`);
  return `
server: { host: 127.0.0.1, port: 0${more(o.server)} }
admin: { host: 127.0.0.1, port: 0, token: ${TEST_ADMIN_TOKEN} }
storage: { users: "${o.users}", state: "${o.state}" }
identity_headers: { assertion_key_file: "${o.key}" }
tokens: { secret: "${TEST_SECRET}"${more(o.tokens)} }
logging: { level: info }
${FAST_ARGON2}
${limitsYaml()}
${routesYaml(o.upstream)}`;
}

/** An EdDSA assertion key written to `dir`/assertion.pem (0600), for the config above. */
export function writeAssertionKey(dir: string): string {
  const key = join(dir, 'assertion.pem');
  writeFileSync(key, generateKeyPem('EdDSA'), { mode: 0o600 });
  return key;
}

/** Rate limits high enough that a test meets only the 429s it asks for. */
export function limitsYaml(l: Limits = {}): string {
  return `rate_limits:
  global: { anonymous: ${l.anonymous ?? '100000/h'}, authenticated: ${l.authenticated ?? '100000/h'} }
  login: { per_email: ${l.loginEmail ?? '1000/m'}, per_ip: ${l.loginIp ?? '1000/m'} }
  register: { per_email: ${l.registerEmail ?? '1000/m'}, per_ip: ${l.registerIp ?? '1000/m'} }`;
}

/** The routes most tests use, all on one recording upstream. */
export function routesYaml(upstream: string, extra = ''): string {
  return `routes:
  - { name: orders, path: /api/orders, upstream: "${upstream}", auth: required }
  - { name: admin, path: /api/admin, upstream: "${upstream}", auth: required, roles: [admin] }
  - { name: maybe, path: /maybe, upstream: "${upstream}", auth: optional }
  - { name: public, path: /public, upstream: "${upstream}", auth: public }
${extra}`;
}

export interface GatewayOptions {
  /** Redis URL without a database; `db` picks the database index. */
  readonly redis: string;
  readonly db: number;
  readonly limits?: Limits;
  /** brute_force flow-map entries, e.g. `failure_limit: 3`. */
  readonly bruteForce?: string;
  /** Other top-level YAML: routes, sessions, device_binding... */
  readonly yaml?: string;
  readonly base?: BaseOverrides;
}

export function redisDb(redisUrl: string, db: number): string {
  return `${redisUrl.replace(/\/\d+$/, '')}/${db}`;
}

export function startRedisGateway(options: GatewayOptions): Promise<TestGateway> {
  const yaml = [
    FAST_ARGON2,
    limitsYaml(options.limits),
    `brute_force: { ${options.bruteForce ?? 'failure_limit: 1000, account_failure_limit: 1000'} }`,
    options.yaml ?? '',
  ].join('\n');
  return startTestGateway(yaml, {
    base: { logLevel: 'warn', ...options.base, state: redisDb(options.redis, options.db) },
  });
}

/** Where requests go: an in-process gateway or a child process. */
export interface Target {
  readonly url: string;
}

export type SendOptions = CallOptions;

/** A request as a real client sends it, optionally from another loopback address (`from`). */
export const send: (gw: Target, method: string, path: string, options?: SendOptions) => Promise<Reply> = call;

export function loginFrom(
  gw: Target,
  email: string,
  password: string,
  options: { from?: string; ua?: string; device_token?: string } = {},
): Promise<Reply> {
  const json = {
    email,
    password,
    ...(options.device_token === undefined ? {} : { device_token: options.device_token }),
  };
  return send(gw, 'POST', '/api/auth/login', {
    json,
    ...(options.from === undefined ? {} : { from: options.from }),
    ...(options.ua === undefined ? {} : { ua: options.ua }),
  });
}

export interface Session {
  readonly access: string;
  readonly refresh: string;
  readonly device_token: string;
}

export async function loginOk(
  gw: Target,
  email: string,
  password = PASSWORD,
  options: { from?: string; ua?: string; device_token?: string } = {},
): Promise<Session> {
  const res = await loginFrom(gw, email, password, options);
  expect(res.status, res.text).toBe(200);
  return res.body!.data as unknown as Session;
}

export interface Account {
  readonly id: string;
  readonly email: string;
}

export async function registerOk(gw: Target, from?: string): Promise<Account> {
  const user = newUser();
  const res = await send(gw, 'POST', '/api/auth/register', {
    json: user,
    ...(from === undefined ? {} : { from }),
  });
  expect(res.status, res.text).toBe(201);
  return { id: res.body!.data!.id as string, email: user.email };
}

/** The operator actions of the admin API and the CLI, over the gateway's own stores. */
export function operations(gw: TestGateway): Operations {
  const s = gw.services;
  return createOperations({
    users: s.users,
    state: s.state,
    audit: s.audit,
    hasher: s.hasher,
    policy: createPasswordPolicy(gw.config.passwords),
    guard: () => gw.current().guard,
  });
}

export function db(gw: TestGateway, sql: string, ...params: unknown[]): Record<string, unknown>[] {
  return sqliteExec(join(gw.dir, 'users.db'), sql, ...params);
}

/** Audit event types written so far, oldest first (after the writer's queue is flushed). */
export async function auditTypes(gw: TestGateway): Promise<string[]> {
  await gw.services.audit.flush();
  return db(gw, 'SELECT type FROM audit_events ORDER BY id').map((r) => String(r.type));
}

/** The header as one integer; fails the test when it is missing or not an integer. */
export function intHeader(reply: Reply, name: string): number {
  const value = reply.headers[name];
  expect(typeof value, `${name} header`).toBe('string');
  expect(value).toMatch(/^\d+$/);
  return Number(value);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
