// clients/dpop.js in real headless Chromium against a real gateway in DPoP mode, across origins (CORS):
// login, a proxied request and a refresh; the key is non-extractable, kept in IndexedDB across reloads,
// and its thumbprint is what the gateway bound the session to. Also examples/dpop-node.mjs in Node.
import { spawn } from 'node:child_process';
import type { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, OPEN_LIMITS, PASSWORD } from '../integration/accounts/support.js';
import { type Browser, type BrowserContext, launchChromium } from '../support/browser.js';
import { jwtClaims } from '../support/dpop.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';

const ROOT = join(import.meta.dirname, '..', '..');
const HELPER = readFileSync(join(ROOT, 'clients', 'dpop.js'), 'utf8');
const PAGE =
  '<!doctype html><meta charset="utf-8"><title>dpop</title><script type="module">import("/dpop.js").then((m) => { window.dpop = m; document.title = "ready"; });</script>';

let upstream: RecordingUpstream;
let gw: TestGateway;
let pages: Server;
let pageOrigin: string;

async function register(): Promise<{ email: string }> {
  const user = newUser();
  const r = await fetch(`${gw.url}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(user),
  });
  expect(r.status).toBe(201);
  return user;
}

beforeAll(async () => {
  // The page is served from its own origin, as a single-page app would be: every call is cross-origin.
  pages = createServer((req, res) => {
    const js = req.url === '/dpop.js';
    res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html' });
    res.end(js ? HELPER : PAGE);
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(
    `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
device_binding: { mode: dpop, dpop_nonce: true }
identity_headers: { assertion: X-Auth-Assertion }
routes:
  - { name: orders, path: /api/orders, upstream: "${upstream.origin}", auth: required }
`,
    { base: { server: `cors: { allowed_origins: ["${pageOrigin}"] }` } },
  );
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  await new Promise<void>((resolve) => (pages ? pages.close(() => resolve()) : resolve()));
});

describe('clients/dpop.js in headless Chromium', () => {
  let browser: Browser;
  let context: BrowserContext;
  beforeAll(async () => {
    browser = await launchChromium();
    ({ context } = browser);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('logs in, calls a proxied route, refreshes and calls again, with a non-extractable key kept in IndexedDB', async () => {
    const { email } = await register();
    const page = await context.newPage();
    await page.goto(`${pageOrigin}/`);
    await page.waitForFunction('document.title === "ready"');
    const before = upstream.requests.length;
    const result = await page.evaluate(
      async ({ gateway, email, password }) => {
        type Client = {
          thumbprint: string;
          keyPair: webcrypto.CryptoKeyPair;
          tokens: { access: string; token_type: string } | null;
          login(e: string, p: string): Promise<{ access: string; token_type: string }>;
          refresh(): Promise<{ access: string; token_type: string }>;
          fetch(url: string): Promise<Response>;
        };
        const m = (globalThis as unknown as { dpop: { createDpopClient(o: object): Promise<Client> } }).dpop;
        const client = await m.createDpopClient({ gateway });
        const login = await client.login(email, password);
        const first = await client.fetch('/api/orders/1?x=1');
        const refreshed = await client.refresh();
        const second = await client.fetch('/api/orders/2');
        let exported = 'exported';
        try {
          await crypto.subtle.exportKey('jwk', client.keyPair.privateKey);
        } catch (err) {
          exported = (err as Error).name;
        }
        return {
          thumbprint: client.thumbprint,
          loginType: login.token_type,
          loginAccess: login.access,
          first: first.status,
          firstBody: (await first.json()) as { url: string },
          refreshedType: refreshed.token_type,
          refreshedAccess: refreshed.access,
          second: second.status,
          extractable: client.keyPair.privateKey.extractable,
          exported,
        };
      },
      { gateway: gw.url, email, password: PASSWORD },
    );
    expect(result).toMatchObject({
      loginType: 'DPoP',
      first: 200,
      refreshedType: 'DPoP',
      second: 200,
      extractable: false,
      exported: 'InvalidAccessError',
    });
    expect(result.firstBody.url).toBe('/api/orders/1?x=1');
    // The session is bound to the browser's key, through the refresh too.
    expect(jwtClaims(result.loginAccess).cnf).toEqual({ jkt: result.thumbprint });
    expect(jwtClaims(result.refreshedAccess).cnf).toEqual({ jkt: result.thumbprint });
    const proxied = upstream.requests.slice(before);
    expect(proxied.map((r) => r.url)).toEqual(['/api/orders/1?x=1', '/api/orders/2']);
    for (const r of proxied)
      expect(jwtClaims(String(r.headers['x-auth-assertion'])).cnf).toEqual({ jkt: result.thumbprint });

    // The key survives a reload (IndexedDB), so the same browser keeps its binding.
    await page.reload();
    await page.waitForFunction('document.title === "ready"');
    const again = await page.evaluate(async (gateway) => {
      const m = (
        globalThis as unknown as { dpop: { createDpopClient(o: object): Promise<{ thumbprint: string }> } }
      ).dpop;
      return (await m.createDpopClient({ gateway })).thumbprint;
    }, gw.url);
    expect(again).toBe(result.thumbprint);
    await page.close();
  });

  it('a token taken out of the browser is useless without its key (Bearer or another key: device_mismatch)', async () => {
    const { email } = await register();
    const page = await context.newPage();
    await page.goto(`${pageOrigin}/`);
    await page.waitForFunction('document.title === "ready"');
    const access = await page.evaluate(
      async ({ gateway, email, password }) => {
        const m = (
          globalThis as unknown as {
            dpop: {
              createDpopClient(
                o: object,
              ): Promise<{ login(e: string, p: string): Promise<{ access: string }> }>;
            };
          }
        ).dpop;
        const client = await m.createDpopClient({ gateway, keyId: 'second' });
        return (await client.login(email, password)).access;
      },
      { gateway: gw.url, email, password: PASSWORD },
    );
    const stolen = await fetch(`${gw.url}/api/orders/1`, { headers: { authorization: `Bearer ${access}` } });
    expect({ status: stolen.status, code: ((await stolen.json()) as { code: string }).code }).toEqual({
      status: 401,
      code: 'device_mismatch',
    });
    await page.close();
  });
});

describe('examples/dpop-node.mjs', () => {
  it('logs in, calls the route, refreshes, calls again and logs out', async () => {
    const { email } = await register();
    const args = [join(ROOT, 'examples', 'dpop-node.mjs'), '--gateway', gw.url, '--email', email];
    const run = spawn(process.execPath, [...args, '--password', PASSWORD, '--path', '/api/orders/5'], {
      stdio: 'pipe',
    });
    let out = '';
    run.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => run.on('exit', resolve));
    const steps = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(steps.map((s) => [s.step, s.status ?? s.token_type])).toEqual([
      ['login', 'DPoP'],
      ['request', 200],
      ['refresh', 'DPoP'],
      ['request', 200],
      ['logout', 200],
    ]);
    expect(code).toBe(0);
  });
});
