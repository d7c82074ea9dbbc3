// A non-Node upstream (Python's http.server, run with python3) behind the real gateway: it gets the
// forwarded request with our headers, and none of the spellings a WSGI stack would fold into HTTP_X_USER_ID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalHeaderName } from '../../gateway/upstream/headers.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type PythonUpstream, startPythonUpstream } from '../support/upstreams.js';
import { expectEnvelope, rawExchange } from './helpers.js';

let gw: TestGateway;
let py: PythonUpstream;

beforeAll(async () => {
  py = await startPythonUpstream();
  gw = await startTestGateway(`
routes:
  - { name: py, path: /py, upstream: "${py.origin}", auth: public }
`);
});

afterAll(async () => {
  await gw?.stop();
  await py?.close();
});

function header(headers: [string, string][], name: string): string[] {
  return headers.filter(([n]) => canonicalHeaderName(n) === name).map(([, v]) => v);
}

describe('Python upstream', () => {
  it('receives the forwarded request with the gateway headers and no client identity', async () => {
    const body = '{"hello":"python"}';
    const ex = rawExchange(
      gw.port,
      'POST /py/items?x=1&y=%2F HTTP/1.1\r\nHost: shop.test:8080\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\nX-User-Id: admin\r\nX_User_Id: admin\r\nx-user-id: admin\r\n` +
        'X-USER-ID: admin\r\nx_user_id: admin\r\nX-User-Roles: admin\r\nX-Forwarded-For: 6.6.6.6\r\n' +
        `X-Request-Id: py-trace-1\r\nConnection: close\r\n\r\n${body}`,
    );
    const res = await ex.response;
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.body.toString()) as { server: string };
    expect(echoed.server).toBe('python');

    const seen = (await py.requests()).find((r) => r.path === '/py/items?x=1&y=%2F');
    expect(seen).toBeDefined();
    expect(seen!.method).toBe('POST');
    expect(seen!.body_len).toBe(body.length);
    const h = seen!.headers;
    expect(header(h, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(header(h, 'x-forwarded-proto')).toEqual(['http']);
    expect(header(h, 'x-forwarded-host')).toEqual(['shop.test:8080']);
    expect(header(h, 'x-request-id')).toEqual(['py-trace-1']);
    expect(header(h, 'host')).toEqual(['shop.test:8080']);
    expect(header(h, 'x-user-id')).toEqual([]);
    expect(header(h, 'x-user-roles')).toEqual([]);
    expect(res.headers['x-request-id']).toBe('py-trace-1');
  });

  it.each(['x-user-id : admin', 'x-user-id\t: admin', ' x-user-id: admin'])(
    'the malformed spelling "%s" is refused, never forwarded',
    async (line) => {
      const before = (await py.requests()).length;
      const ex = rawExchange(gw.port, `GET /py/bad HTTP/1.1\r\nHost: shop.test\r\n${line}\r\n\r\n`);
      expectEnvelope(await ex.response, 400, 'bad_request');
      expect((await py.requests()).length).toBe(before);
    },
  );
});
