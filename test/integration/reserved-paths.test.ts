// The paths the gateway terminates (auth.base_path, auth.profile_path, /.well-known/jwks.json) are
// answered by the gateway at and below them, even when a catch-all route would take them: never forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { expectEnvelope, http } from './helpers.js';

let up: RecordingUpstream;
let gw: TestGateway;
let custom: TestGateway;

beforeAll(async () => {
  up = await startRecordingUpstream();
  const routes = `
rate_limits: { global: { anonymous: 100000/h } }
routes:
  - { name: all, path: /, upstream: "${up.origin}", auth: public }
  - { name: all-hosted, path: /, host: app.test, upstream: "${up.origin}", auth: public }
`;
  gw = await startTestGateway(routes);
  custom = await startTestGateway(`${routes}auth: { base_path: /idp, profile_path: /account/me }\n`);
});

afterAll(async () => {
  await gw?.stop();
  await custom?.stop();
  await up?.close();
});

async function send(
  target: TestGateway,
  method: string,
  path: string,
  host?: string,
): Promise<{
  status: number;
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
  forwarded: boolean;
}> {
  const before = up.requests.length;
  const res = await http(`${target.url}${path}`, { method, headers: host === undefined ? {} : { host } });
  // Any request reaching the upstream counts, whatever path it arrived with (a rewritten one included).
  return { ...res, forwarded: up.requests.length > before };
}

describe('default paths, beside a catch-all route', () => {
  it.each([
    ['GET', '/api/auth'],
    ['GET', '/api/auth/'],
    ['GET', '/api/auth/foo'],
    ['POST', '/api/auth/foo'],
    ['DELETE', '/api/auth/foo/bar?x=1'],
    ['POST', '/api/auth/login/extra'],
    ['GET', '/api/auth/totp/x'],
    // Mail is off here: its flows do not exist, and their paths are still the gateway's.
    ['GET', '/api/auth/verify-email'],
    ['POST', '/api/auth/password-reset/request'],
    ['GET', '/api/users/me/x'],
    ['POST', '/api/users/me/x/y'],
    ['GET', '/api/users/me/password/x'],
    ['GET', '/.well-known/jwks.json/x'],
    ['GET', '/api/%61uth/foo'],
  ])('%s %s → 404 route_not_found, never forwarded', async (method, path) => {
    const res = await send(gw, method, path);
    expectEnvelope(res, 404, 'route_not_found');
    expect(res.forwarded).toBe(false);
  });

  it('the same on a host with a host-specific catch-all', async () => {
    const res = await send(gw, 'GET', '/api/auth/foo', 'app.test');
    expectEnvelope(res, 404, 'route_not_found');
    expect(res.forwarded).toBe(false);
  });

  it.each([
    ['GET', '/api/auth/login', 'POST'],
    ['GET', '/api/auth/login/', 'POST'],
    ['POST', '/api/users/me', 'GET, HEAD'],
    ['GET', '/api/users/me/password', 'POST'],
    ['POST', '/.well-known/jwks.json', 'GET, HEAD'],
    // DELETE <profile_path>/sessions/:id is an endpoint below its path; GET of the list is not.
    ['GET', '/api/users/me/sessions/abc', 'DELETE'],
  ])('%s %s → 405 method_not_allowed, Allow: %s', async (method, path, allow) => {
    const res = await send(gw, method, path);
    expectEnvelope(res, 405, 'method_not_allowed');
    expect(res.headers.allow).toBe(allow);
    expect(res.forwarded).toBe(false);
  });

  it.each([
    '/api/authx',
    '/api/auth-other/x',
    '/api/users/mex',
    '/api/users/other',
    '/.well-known/other',
    '/api',
  ])('%s is not under a reserved path: forwarded', async (path) => {
    const res = await send(gw, 'GET', path);
    expect(res.status).toBe(200);
    expect(res.forwarded).toBe(true);
  });

  it('the endpoints themselves still answer', async () => {
    const jwks = await send(gw, 'GET', '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expectEnvelope(await send(gw, 'GET', '/api/users/me'), 401, 'missing_token');
  });
});

describe('configured paths', () => {
  it.each([
    ['GET', '/idp'],
    ['GET', '/idp/foo'],
    ['GET', '/account/me/x'],
  ])('%s %s → 404 route_not_found, never forwarded', async (method, path) => {
    const res = await send(custom, method, path);
    expectEnvelope(res, 404, 'route_not_found');
    expect(res.forwarded).toBe(false);
  });

  it.each(['/api/auth/foo', '/api/users/me/x', '/account/other'])(
    '%s is no longer reserved: forwarded',
    async (path) => {
      const res = await send(custom, 'GET', path);
      expect(res.status).toBe(200);
      expect(res.forwarded).toBe(true);
    },
  );
});
