import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';

describe('CORS', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      if (req.url?.startsWith('/api/exposes')) {
        req.resume();
        res.writeHead(200, { 'access-control-expose-headers': 'ETag', etag: '"1"', 'content-length': '2' });
        res.end('ok');
        return true;
      }
      if (!req.url?.startsWith('/api/varies')) return false;
      req.resume();
      res.writeHead(200, { vary: 'Accept-Encoding', 'content-length': '2' });
      res.end('ok');
      return true;
    });
    gw = await startTestGateway(
      `routes:
  - { name: api, path: /api, upstream: "${upstream.origin}", auth: public, methods: [GET, POST] }`,
      {
        base: {
          server:
            'cors: { allowed_origins: ["https://app.example.com"], allowed_headers: [If-Match, Idempotency-Key] }',
        },
      },
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

  it('a preflight lists the headers a page may send, server.cors.allowed_headers included (a fixed list before)', async () => {
    const res = await fetch(`${gw.url}/api/x`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'if-match, idempotency-key',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-headers')).toBe(
      'authorization, content-type, dpop, x-request-id, if-match, idempotency-key',
    );
  });

  it('refuses a preflight for a method the route does not allow', async () => {
    const res = await fetch(`${gw.url}/api/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' },
    });
    expect(res.status).toBe(405);
  });

  it("joins the upstream's Access-Control-Expose-Headers with the gateway's (it replaced them: RateLimit-* and DPoP-Nonce went unreadable)", async () => {
    const res = await fetch(`${gw.url}/api/exposes`, { headers: { origin: 'https://app.example.com' } });
    const exposed = (res.headers.get('access-control-expose-headers') ?? '')
      .split(',')
      .map((n) => n.trim().toLowerCase());
    expect(exposed[0]).toBe('etag');
    expect(exposed).toEqual(
      expect.arrayContaining(['ratelimit-remaining', 'retry-after', 'www-authenticate', 'dpop-nonce']),
    );
    expect(new Set(exposed).size).toBe(exposed.length);
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
