// Shared pieces of the account tests: a gateway started with fast hashing and open limits, a small
// HTTP client that keeps raw status/headers/body, and register/login calls. Not a test file itself.
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import { sqliteExec } from '../../../gateway/users/sqlite-store.js';
import { type BaseOverrides, startTestGateway, type TestGateway } from '../../support/gateway.js';

export const UA = 'Mozilla/5.0 (accounts-test) Firefox/140.0';
export const OTHER_UA = 'curl/8.5.0';
export const PASSWORD = 'violet-harbour-kettle-93';

/** Cheap hashing: only the tests that measure hashing use the real defaults. */
const FAST_ARGON2 = 'argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 }';
/** Limits high enough that no test meets a 429 it did not ask for. */
export const OPEN_LIMITS = `rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  login: { per_email: 1000/m, per_ip: 1000/m }
  register: { per_email: 1000/m, per_ip: 1000/m }
brute_force: { failure_limit: 1000, account_failure_limit: 1000 }`;

export interface AccountsGatewayOptions {
  /** Extra top-level YAML (routes, sessions, device_binding...). */
  readonly yaml?: string;
  readonly base?: BaseOverrides;
  /** false: the configured default argon2 parameters. */
  readonly fastHash?: boolean;
  /** Extra entries of the `passwords` map, e.g. `max_length: 64`. */
  readonly passwords?: string;
  /** false: leave rate_limits/brute_force to `yaml`. */
  readonly openLimits?: boolean;
  readonly dir?: string;
}

/** Where the calls go: an in-process TestGateway, or a child process's URL and port. */
export type Target = Pick<TestGateway, 'url' | 'port'>;

export function startAccountsGateway(options: AccountsGatewayOptions = {}): Promise<TestGateway> {
  const passwords = [options.fastHash === false ? '' : FAST_ARGON2, options.passwords ?? '']
    .filter((p) => p !== '')
    .join(', ');
  const parts = [
    passwords === '' ? '' : `passwords: { ${passwords} }`,
    options.openLimits === false ? '' : OPEN_LIMITS,
    options.yaml ?? '',
  ];
  return startTestGateway(parts.join('\n'), {
    ...(options.base === undefined ? {} : { base: options.base }),
    ...(options.dir === undefined ? {} : { dir: options.dir }),
  });
}

export interface Reply {
  readonly status: number;
  /** Lower-case names; Node joins repeated ones. */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** Parsed JSON body, or null when it is not JSON. */
  readonly body: Envelope | null;
}

export interface Envelope {
  readonly status?: string;
  readonly message?: string;
  readonly code?: string;
  readonly data?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

export interface CallOptions {
  /** Serialised as JSON with content-type application/json. */
  readonly json?: unknown;
  /** Sent as is (no content-type unless given in headers). */
  readonly body?: string | Buffer;
  readonly token?: string;
  /** Default UA; null sends none. */
  readonly ua?: string | null;
  readonly headers?: Record<string, string | string[]>;
  /** Send the body with chunked encoding, in two pieces, without a Content-Length. */
  readonly chunked?: boolean;
  /** The loopback address the connection comes from (a real client IP, not a header). */
  readonly from?: string;
}

export function call(
  gw: { readonly url: string },
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply> {
  const headers: Record<string, string | string[]> = {};
  if (options.ua !== null) headers['user-agent'] = options.ua ?? UA;
  let payload: string | Buffer | undefined = options.body;
  if (options.json !== undefined) {
    payload = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  Object.assign(headers, options.headers);
  if (payload !== undefined && options.chunked !== true && headers['content-length'] === undefined) {
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  // The path goes out as written: a URL object would resolve dot segments before the gateway sees them.
  const { hostname, port } = new URL(gw.url);
  const target = { host: hostname, port, path, method, headers, agent: false as const };
  const from = options.from === undefined ? {} : { localAddress: options.from };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, ...from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Envelope | null = null;
        try {
          body = JSON.parse(text) as Envelope;
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.chunked === true && payload !== undefined) {
      const half = Math.floor(payload.length / 2);
      req.write(payload.slice(0, half));
      req.end(payload.slice(half));
    } else {
      req.end(payload);
    }
  });
}

/**
 * Writes `data` on a fresh socket and resolves with the first response's status (0 when the server
 * closed without one or did not answer within `ms`).
 */
export function rawStatus(
  gw: Target,
  data: string,
  ms = 3_000,
): Promise<{ status: number; code: string | undefined; text: string }> {
  return new Promise((resolve) => {
    const socket = connect({ port: gw.port, host: '127.0.0.1' });
    let got = '';
    const timer = setTimeout(() => socket.destroy(), ms);
    const done = (): void => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      const code = /"code":"([a-z_]+)"/.exec(got)?.[1];
      resolve({ status: m === null ? 0 : Number(m[1]), code, text: got });
    };
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (/\r\n\r\n[\s\S]*\}$/.test(got)) socket.destroy();
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.write(data);
  });
}

/** Asserts the envelope's status and code, the only parts tests rely on. */
export function expectFailure(reply: Reply, status: number, code: string): void {
  expect({ status: reply.status, code: reply.body?.code, envelope: reply.body?.status }).toEqual({
    status,
    code,
    envelope: 'failed',
  });
}

export interface NewUser {
  readonly email: string;
  readonly password: string;
  readonly password_confirm: string;
  readonly first_name: string;
  readonly last_name: string;
}

let counter = 0;
export function newUser(overrides: Partial<NewUser> = {}): NewUser {
  counter += 1;
  const password = overrides.password ?? PASSWORD;
  return {
    email: `user${counter}.${process.pid}@example.com`,
    password,
    password_confirm: password,
    first_name: 'Ada',
    last_name: 'Lovelace',
    ...overrides,
  };
}

export function register(gw: Target, user: NewUser | Record<string, unknown>): Promise<Reply> {
  return call(gw, 'POST', '/api/auth/register', { json: user });
}

export function login(
  gw: Target,
  email: string,
  password: string,
  options: { ua?: string; device_token?: string } = {},
): Promise<Reply> {
  const json = {
    email,
    password,
    ...(options.device_token === undefined ? {} : { device_token: options.device_token }),
  };
  return call(gw, 'POST', '/api/auth/login', { json, ua: options.ua ?? UA });
}

export interface Pair {
  readonly access: string;
  readonly refresh: string;
  readonly device_token?: string;
}

/** Registers and logs in; fails the test if either step does not succeed. */
export async function registerAndLogin(
  gw: Target,
  overrides: Partial<NewUser> = {},
): Promise<{ user: NewUser; id: string; pair: Pair }> {
  const user = newUser(overrides);
  const reg = await register(gw, user);
  expect(reg.status).toBe(201);
  const pair = await loginOk(gw, user.email, user.password);
  return { user, id: reg.body!.data!.id as string, pair };
}

export async function loginOk(gw: Target, email: string, password: string, ua = UA): Promise<Pair> {
  const res = await login(gw, email, password, { ua });
  expect(res.status, res.text).toBe(200);
  return res.body!.data as unknown as Pair;
}

/** A new user, registered and logged in: their first token pair. */
export async function session(gw: Target): Promise<Pair> {
  const user = newUser();
  expect((await register(gw, user)).status).toBe(201);
  return loginOk(gw, user.email, user.password);
}

/** Refreshes with `token`, which must succeed: the new pair. */
export async function refreshOk(gw: Target, token: string): Promise<Pair> {
  const res = await refresh(gw, token);
  expect(res.status, res.text).toBe(200);
  return res.body!.data as unknown as Pair;
}

export function refresh(gw: Target, token: string, ua = UA): Promise<Reply> {
  return call(gw, 'POST', '/api/auth/refresh', { json: { refresh: token }, ua });
}

export function me(gw: Target, token: string, ua = UA): Promise<Reply> {
  return call(gw, 'GET', '/api/users/me', { token, ua });
}

/** Raw SQL on the gateway's user database, through a connection of its own (as an operator would). */
export function db(gw: TestGateway, sql: string, ...params: unknown[]): Record<string, unknown>[] {
  return sqliteExec(join(gw.dir, 'users.db'), sql, ...params);
}

export function userCount(gw: TestGateway): number {
  return Number(db(gw, 'SELECT count(*) AS n FROM users')[0]!.n);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
