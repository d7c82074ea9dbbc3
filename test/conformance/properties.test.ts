// Properties checked through the real gateway with fast-check (bounded runs, raw sockets): for random
// paths, the route the gateway picks, the route an upstream would resolve the forwarded bytes to and
// the bytes themselves agree; and no random header set gets a client-chosen identity header upstream.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalHeaderName } from '../../gateway/upstream/headers.js';
import { registerAndLogin } from '../integration/accounts/support.js';
import { startRecordingUpstream } from '../support/upstreams.js';
import { converse, type RecordingUpstream, startGateway, type TestGateway, UA, valuesOf } from './support.js';

const ROUTES = [
  { name: 'admin', prefix: ['admin'], strip: false },
  { name: 'apipublic', prefix: ['api', 'public'], strip: false },
  { name: 'files', prefix: ['files'], strip: true },
  { name: 'root', prefix: [] as string[], strip: false },
] as const;
type RouteName = (typeof ROUTES)[number]['name'];

const ups = {} as Record<RouteName, RecordingUpstream>;
let gw: TestGateway;
let token: string;

beforeAll(async () => {
  for (const r of ROUTES) ups[r.name] = await startRecordingUpstream();
  gw = await startGateway(
    `
routes:
  - { name: root, path: /, upstream: "${ups.root.origin}", auth: public }
  - { name: admin, path: /admin, upstream: "${ups.admin.origin}", auth: required }
  - { name: apipublic, path: /api/public, upstream: "${ups.apipublic.origin}", auth: public }
  - { name: files, path: /files, upstream: "${ups.files.origin}", auth: public, strip_prefix: true }
identity_headers:
  user_id: X-Remote-User
  email: X-Remote-Email
  roles: X-Remote-Roles
  session_id: X-Remote-Session
  assertion: X-Remote-Assertion
`,
  );
  token = (await registerAndLogin(gw)).pair.access;
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all(Object.values(ups).map((u) => u.close()));
});

/** How an upstream that resolves dot segments (WHATWG URL) and percent-decodes would read a path. */
function upstreamView(path: string): string[] | null {
  let pathname: string;
  try {
    pathname = new URL(path, 'http://upstream.invalid').pathname;
  } catch {
    return null;
  }
  try {
    return pathname.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return null;
  }
}

/** Longest whole-segment prefix over decoded segments: the reference route decision. */
function reference(segments: readonly string[]): (typeof ROUTES)[number] {
  for (const r of ROUTES) if (r.prefix.every((p, i) => segments[i] === p)) return r;
  return ROUTES[3];
}

const SEGMENTS = [
  'admin',
  'ADMIN',
  'Admin',
  'api',
  'public',
  'files',
  'x',
  'a.b',
  '~',
  '',
  '.',
  '..',
  '...',
  '.%2e',
  '%2e%2e',
  '%2E',
  '%61dmin',
  'adm%69n',
  '%2fadmin',
  '%2F',
  '%5c',
  '\\',
  ';',
  'admin;x',
  '%3b',
  '%00',
  '%0a',
  '%25',
  '%252e',
  '%c0%ae',
  '%e2%80%a5',
  '%ef%bc%8f',
  'caf%c3%a9',
  '%41',
  '%7e',
  '%20',
  '#',
  '%23',
  '?',
  'a=b',
  '%',
  '%2',
  '%zz',
];

const pathArb = fc
  .tuple(
    fc.constantFrom('/', '/', '/', '/', '/', '/', '//', '/./'),
    fc.array(
      fc.oneof(
        { weight: 2, arbitrary: fc.constantFrom(...SEGMENTS) },
        { weight: 1, arbitrary: fc.constantFrom('admin', 'api', 'public', 'files') },
        { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9]{1,6}$/) },
        { weight: 1, arbitrary: fc.stringMatching(/^[a-z%0-9.]{0,6}$/) },
      ),
      { maxLength: 5 },
    ),
    fc.option(fc.constantFrom('?', '?a=1', '?/../admin', '?x=%2e%2e'), { nil: '' }),
  )
  .map(([lead, segs, query]) => `${lead}${segs.join('/')}${query}`);

async function get(path: string, lines: string[] = []): Promise<number | undefined> {
  const head = [`GET ${path} HTTP/1.1`, 'Host: gw.test', `User-Agent: ${UA}`, ...lines, 'Connection: close'];
  const conv = await converse(gw.port, Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), {
    waitMs: 2_000,
  });
  return conv.responses[0]?.status;
}

const counts = () => Object.fromEntries(ROUTES.map((r) => [r.name, ups[r.name].requests.length]));

describe('property: route decision, upstream reading and forwarded bytes agree', () => {
  it('for random paths, sent anonymously (250 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(pathArb, async (path) => {
        const before = counts();
        const status = await get(path);
        const after = counts();
        const hit = ROUTES.filter((r) => after[r.name]! > before[r.name]!);
        if (status !== 200) {
          // Refused by the gateway: nothing anywhere.
          expect(hit).toEqual([]);
          expect([400, 401, 404]).toContain(status);
          if (status === 401) expect(reference(upstreamView(path.split('?')[0]!) ?? []).name).toBe('admin');
          return;
        }
        expect(hit).toHaveLength(1);
        const route = hit[0]!;
        const seen = ups[route.name].requests.at(-1)!;
        const rawPath = path.split('?')[0]!;
        const query = path.slice(rawPath.length);
        // The bytes: the client's own, minus the stripped prefix.
        const expected = route.strip
          ? `${rawPath.slice(`/${route.prefix.join('/')}`.length) || '/'}${query}`
          : path;
        expect(seen.url).toBe(expected);
        // The decision: what an upstream reads from the client's path is the route the gateway chose,
        // and an anonymous request never lands where the upstream would read /admin.
        const view = upstreamView(rawPath);
        expect(view).not.toBeNull();
        expect(reference(view!).name).toBe(route.name);
        expect(route.name).not.toBe('admin');
        expect(seen.headers['x-remote-user']).toBeUndefined();
      }),
      { numRuns: 250 },
    );
  });

  it('clean paths (letters, digits, single slashes) are never refused (150 runs)', async () => {
    const clean = fc
      .array(fc.stringMatching(/^[a-zA-Z0-9_-]{1,8}$/), { minLength: 1, maxLength: 5 })
      .map((s) => `/${s.join('/')}`)
      .filter((p) => !/^\/admin(\/|$)/.test(p));
    await fc.assert(
      fc.asyncProperty(clean, async (path) => {
        expect(await get(path)).toBe(200);
      }),
      { numRuns: 150 },
    );
  });
});

const IDENTITY = [
  'X-Remote-User',
  'X-Remote-Email',
  'X-Remote-Roles',
  'X-Remote-Session',
  'X-Remote-Assertion',
  'X-User-Id',
  'X-User-Email',
  'X-User-Roles',
  'X-Session-Id',
  'X-Auth-Assertion',
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
];

/** A spelling of `name` with random case per letter and `_` or `-` per separator. */
const spelling = (name: string) =>
  fc.array(fc.boolean(), { minLength: name.length * 2, maxLength: name.length * 2 }).map((bits) =>
    [...name]
      .map((c, i) => {
        if (c === '-') return bits[i] ? '_' : '-';
        return bits[name.length + i] ? c.toUpperCase() : c.toLowerCase();
      })
      .join(''),
  );

const headerArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...IDENTITY).chain((n) => spelling(n)) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,12}$/) },
);
const valueArb = fc.stringMatching(/^[!-~]([ !-~]{0,20}[!-~])?$/);

describe('property: no header set puts a client-chosen identity value upstream', () => {
  it('random identity-header spellings, duplicates and Connection lists (200 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(headerArb, valueArb), { maxLength: 12 }),
        fc.subarray(IDENTITY),
        fc.boolean(),
        async (headers, nominated, authenticated) => {
          const marker = `CLIENT${Math.random().toString(36).slice(2, 8)}`;
          const lines = headers.map(([n, v], i) => `${n}: ${marker}${i}${v}`);
          if (nominated.length > 0) lines.push(`Connection: ${nominated.join(', ')}`);
          if (authenticated) lines.push(`Authorization: Bearer ${token}`);
          const route = authenticated ? 'admin' : 'root';
          const before = ups[route].requests.length;
          const status = await get(authenticated ? '/admin/p' : '/p', lines);
          const seen = ups[route].requests.slice(before);
          if (status !== 200) {
            expect(seen).toEqual([]);
            return;
          }
          expect(seen).toHaveLength(1);
          const got = seen[0]!;
          for (const name of IDENTITY) {
            for (const value of valuesOf(got, name))
              expect(value.includes(marker), `${name}: ${value}`).toBe(false);
          }
          const ours = authenticated ? 1 : 0;
          expect(valuesOf(got, 'x-remote-user')).toHaveLength(ours);
          expect(valuesOf(got, 'x-remote-session')).toHaveLength(ours);
          expect(valuesOf(got, 'x-user-id')).toEqual([]);
          expect(valuesOf(got, 'x-forwarded-for')).toEqual(['127.0.0.1']);
          // Nothing that folds to an identity name slipped through under another spelling either.
          const canon = got.rawHeaders.filter((_, i) => i % 2 === 0).map(canonicalHeaderName);
          expect(canon.filter((n) => n === 'x-remote-user')).toHaveLength(ours);
        },
      ),
      { numRuns: 200 },
    );
  });
});
