// Shared pieces of the admin tests: a gateway with a recording upstream behind an auth route, and a
// client for the admin listener that sends the admin token unless told otherwise. Not a test file.

import { TEST_ADMIN_TOKEN, type TestGateway } from '../../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  type AccountsGatewayOptions,
  type CallOptions,
  call,
  type Reply,
  startAccountsGateway,
} from '../accounts/support.js';

export interface AdminFixture {
  readonly gw: TestGateway;
  readonly upstream: RecordingUpstream;
  close(): Promise<void>;
}

/**
 * Routes: /app (auth required), /pub (public), /boss (role admin), all to one recording upstream,
 * then `extraRoutes` (YAML list items, one per line).
 */
export async function startAdminFixture(
  options: AccountsGatewayOptions & { extraRoutes?: string } = {},
): Promise<AdminFixture> {
  const upstream = await startRecordingUpstream();
  const routes = `routes:
  - { name: app, path: /app, upstream: "${upstream.origin}", auth: required }
  - { name: pub, path: /pub, upstream: "${upstream.origin}", auth: public }
  - { name: boss, path: /boss, upstream: "${upstream.origin}", auth: required, roles: [admin] }
${options.extraRoutes ?? ''}
`;
  const gw = await startAccountsGateway({ ...options, yaml: `${options.yaml ?? ''}\n${routes}` });
  return {
    gw,
    upstream,
    async close() {
      await gw.stop();
      await upstream.close();
    },
  };
}

export interface AdminCallOptions extends Omit<CallOptions, 'token'> {
  /** Default: the test admin token; null sends no Authorization header. */
  readonly token?: string | null;
}

export function admin(
  gw: TestGateway,
  method: string,
  path: string,
  options: AdminCallOptions = {},
): Promise<Reply> {
  const { token, ...rest } = options;
  const target = { url: gw.adminUrl, port: gw.adminPort };
  const bearer = token === undefined ? TEST_ADMIN_TOKEN : token;
  return call(target, method, path, { ...rest, ...(bearer === null ? {} : { token: bearer }) });
}

/** The data of a 200 answer; fails the test with the body otherwise. */
export async function adminOk(
  gw: TestGateway,
  method: string,
  path: string,
  options: AdminCallOptions = {},
): Promise<Record<string, unknown>> {
  const res = await admin(gw, method, path, options);
  if (res.status !== 200 || res.body?.status !== 'success') {
    throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  }
  return res.body.data ?? {};
}

/**
 * A fixture whose logins hash slowly (32 MiB, 3 passes, ≈ 50–150 ms here, two at a time), so an operator
 * action lands while several logins of one account hash: each read the account before the action and
 * writes its session after it.
 */
export function startSlowLoginFixture(): Promise<AdminFixture> {
  return startAdminFixture({
    fastHash: false,
    passwords: 'argon2: { memory_kib: 32768, iterations: 3, parallelism: 1 }',
    yaml: 'sessions: { max_active: 50 }',
  });
}
