// Addresses beyond ASCII reach the upstream: X-User-Email carries the address's UTF-8 bytes, to a Python
// upstream (http.server reads field values as Latin-1: one character per byte) and to a Node one. Before,
// an address with a character above U+00FF failed every proxied request with 502 upstream_unavailable
// (node:http and undici refuse such characters in a field value), and U+0080–U+00FF went out as single
// Latin-1 bytes, invalid UTF-8.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalHeaderName } from '../../../gateway/upstream/headers.js';
import type { TestGateway } from '../../support/gateway.js';
import {
  type PythonUpstream,
  type RecordingUpstream,
  startPythonUpstream,
  startRecordingUpstream,
} from '../../support/upstreams.js';
import { call, registerAndLogin, startAccountsGateway } from './support.js';

let gw: TestGateway;
let py: PythonUpstream;
let node: RecordingUpstream;

beforeAll(async () => {
  py = await startPythonUpstream();
  node = await startRecordingUpstream();
  gw = await startAccountsGateway({
    yaml: `
routes:
  - { name: py, path: /py, upstream: "${py.origin}", auth: required }
  - { name: node, path: /node, upstream: "${node.origin}", auth: required }
`,
  });
});
afterAll(async () => {
  await gw?.stop();
  await py?.close();
  await node?.close();
});

/** What a field value's bytes say as UTF-8, from a string holding one character per byte. */
const asUtf8 = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('utf8');

describe('X-User-Email for addresses beyond ASCII', () => {
  it.each([
    ['Latin Extended (ł)', 'paweł.%d@example.com'],
    ['Latin-1 (ë)', 'zoë.%d@example.com'],
    ['an internationalised domain', 'user.%d@exämple.com'],
    ['CJK', '用户.%d@example.com'],
    ['an astral character', 'emoji😀.%d@example.com'],
  ])('%s: the upstreams get the address as UTF-8, the request is answered 200', async (_kind, pattern) => {
    const email = pattern.replace('%d', String(process.pid));
    const { pair } = await registerAndLogin(gw, { email });

    const toPython = await call(gw, 'GET', `/py/who?u=${encodeURIComponent(email)}`, { token: pair.access });
    expect(toPython.status, toPython.text).toBe(200);
    const seen = (await py.requests()).find((r) => r.path === `/py/who?u=${encodeURIComponent(email)}`);
    const values = seen!.headers.filter(([n]) => canonicalHeaderName(n) === 'x-user-email').map(([, v]) => v);
    expect(values.map(asUtf8)).toEqual([email]);

    const toNode = await call(gw, 'GET', '/node/who', { token: pair.access });
    expect(toNode.status, toNode.text).toBe(200);
    const last = node.requests.at(-1)!;
    expect(asUtf8(last.headers['x-user-email'] as string)).toBe(email);
  });

  it('an ASCII address is sent exactly as before', async () => {
    const email = `plain.${process.pid}@example.com`;
    const { pair } = await registerAndLogin(gw, { email });
    const res = await call(gw, 'GET', '/node/plain', { token: pair.access });
    expect(res.status).toBe(200);
    expect(node.requests.at(-1)!.headers['x-user-email']).toBe(email);
  });
});
