import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';

describe('CORS', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      if (!req.url?.startsWith('/api/varies')) return false;
      req.resume();
      res.writeHead(200, { vary: 'Accept-Encoding', 'content-length': '2' });
      res.end('ok');
      return true;
    });
    gw = await startTestGateway(
      `routes:
  - { name: api, path: /api, upstream: "${upstream.origin}", auth: public, methods: [GET, POST] }`,
      { base: { server: 'cors: { allowed_origins: ["https://app.example.com"] }' } },
    );
  });
  afterAll(async () => {
    await gw.stop();
    await upstream.close();
  });

  it('answers a preflight from a listed origin without forwarding it', async () => {
    const before = upstream.requests.length;
    const res = await fetch(`${gw.url}/api/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-allow-methods')).toBe('POST');
    expect(upstream.requests.length).toBe(before);
  });

  it('never reflects an origin that is not listed', async () => {
    const res = await fetch(`${gw.url}/api/x`, { headers: { origin: 'https://evil.example.com' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toBe('Origin');
  });

  it('refuses a preflight for a method the route does not allow', async () => {
    const res = await fetch(`${gw.url}/api/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' },
    });
    expect(res.status).toBe(405);
  });

  it('adds the allowed origin to normal answers', async () => {
    const res = await fetch(`${gw.url}/api/x`, { headers: { origin: 'https://app.example.com' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
  });

  it("joins the upstream's Vary with Origin: a cache keyed on the upstream's list alone would mix origins", async () => {
    const res = await fetch(`${gw.url}/api/varies`, { headers: { origin: 'https://app.example.com' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('vary')).toBe('Accept-Encoding, Origin');
  });
});
