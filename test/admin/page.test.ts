// The admin page's assets and how they are served: strict headers, a fixed file set (no path from the
// request reaches the disk), module imports that all resolve, and no code that turns data into markup.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminPage } from '../../admin/page.js';
import { GatewayError, toGatewayError } from '../../gateway/errors.js';
import { sendError } from '../../gateway/http/reply.js';

const WEB = fileURLToPath(new URL('../../admin/web/', import.meta.url));
const files = readdirSync(WEB);
const text = (name: string): string => readFileSync(join(WEB, name), 'utf8');

let server: Server;
let base: string;
beforeAll(async () => {
  const page = createAdminPage();
  server = createServer((req, res) => {
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      if (!page(req, res, path)) sendError(res, new GatewayError('not_found'));
    } catch (err) {
      sendError(res, toGatewayError(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('assets', () => {
  it.each(files.filter((f) => f.endsWith('.js')))(
    'SECURITY: %s never builds markup from strings or evaluates code',
    (name) => {
      const source = text(name);
      for (const banned of [
        /\.innerHTML\b/,
        /\.outerHTML\b/,
        /insertAdjacentHTML/,
        /document\.write/,
        /\beval\(/,
        /new Function\(/,
        /setTimeout\(\s*['"`]/,
        /\.src\s*=/,
        /localStorage/,
      ]) {
        expect(source, String(banned)).not.toMatch(banned);
      }
    },
  );

  it.each(files)('%s loads nothing from another origin (no CDN)', (name) => {
    expect(text(name)).not.toMatch(/(?:src|href|from|import|url)\s*\(?\s*['"]?(?:https?:)?\/\//i);
  });

  it('index.html has no inline script, style or event handler (the CSP would block them anyway)', () => {
    const html = text('index.html');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
  });

  it.each(files.filter((f) => f.endsWith('.js')))('every import of %s is a served asset', (name) => {
    for (const [, target] of text(name).matchAll(/from '\.\/([^']+)'/g)) expect(files).toContain(target);
  });
});

describe('serving', () => {
  it('/ is the page with strict security headers', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/(^|; )default-src 'self'(;|$)/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(await res.text()).toContain('<script type="module" src="/assets/app.js">');
  });

  it.each([
    ['app.js', 'text/javascript; charset=utf-8'],
    ['style.css', 'text/css; charset=utf-8'],
  ])('/assets/%s is served as %s, with the same headers', async (name, type) => {
    const res = await fetch(`${base}/assets/${name}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(text(name));
  });

  /** The path exactly as written: fetch would resolve the dot segments before sending. */
  const rawStatus = (path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(`${base}/`, { path, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });

  it.each([
    '/assets/missing.js',
    '/assets/../page.ts',
    '/assets/../../package.json',
    '/assets/%2e%2e/page.ts',
    '/assets/..%2Fpage.ts',
    '/assets/',
    '/assets/APP.JS',
    '/assets/app.js/',
    '/index.html',
  ])('%s is 404', async (path) => {
    expect(await rawStatus(path)).toBe(404);
  });

  it('POST / is 405 with Allow; HEAD answers without a body', async () => {
    const post = await fetch(`${base}/`, { method: 'POST', body: 'token=x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${base}/assets/app.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});
