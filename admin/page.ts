// Serves the admin web page (admin/web/*: HTML, CSS, ES modules) from memory with strict security
// headers. Files are read once at start-up from a fixed folder; no path from a request reaches the disk.
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../gateway/errors.js';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Same-origin everything, no inline script or style (a rendered value can never run), never framed
 * (clickjacking the revoke buttons), no Referer (the page's URL leaves nothing behind).
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

const WEB_DIR = fileURLToPath(new URL('./web/', import.meta.url));

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** Answers `/` and `/assets/<file>`; returns false for any other path (the caller goes on). */
export type PageHandler = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

export function createAdminPage(dir = WEB_DIR): PageHandler {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type !== undefined && /^[a-z0-9-]+\.[a-z]+$/.test(name)) {
      assets.set(`/assets/${name}`, { type, body: readFileSync(join(dir, name)) });
    }
  }
  const index = assets.get('/assets/index.html');
  if (index === undefined) throw new Error(`admin page: ${dir}index.html is missing`);
  assets.set('/', index);

  return (req, res, path) => {
    const asset = assets.get(path);
    if (asset === undefined) {
      if (path.startsWith('/assets/')) throw new GatewayError('not_found');
      return false;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new GatewayError('method_not_allowed', { headers: { allow: 'GET, HEAD' } });
    }
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  };
}
