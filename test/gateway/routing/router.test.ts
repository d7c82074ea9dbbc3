// Tests route selection end to end (parseTarget → match): the attack corpus, host and method precedence, strip_prefix.
// The canonicaliser's own splitting and decoding is tested in canonical-path.test.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../../../config/types.js';
import { GatewayError } from '../../../gateway/errors.js';
import { parseTarget } from '../../../gateway/routing/canonical-path.js';
import {
  checkRoutes,
  createRouter,
  type RouteEntry,
  type RouteMatch,
} from '../../../gateway/routing/router.js';

function route(name: string, path: string, extra: Partial<RouteConfig> = {}): RouteEntry {
  return {
    config: {
      name,
      path,
      methods: null,
      host: null,
      upstream: ['http://127.0.0.1:1'],
      auth: 'public',
      roles: [],
      strip_prefix: false,
      rate_limit: null,
      timeout: 30_000,
      websocket: false,
      forward_authorization: false,
      body_limit: null,
      device_binding: null,
      ...extra,
    },
  };
}

const router = createRouter([
  route('www-root', '/', { host: 'www.example.com', methods: ['GET'] }),
  route('orders', '/api/orders', { methods: ['GET', 'POST'] }),
  route('orders-admin', '/api/orders/admin', { methods: ['GET'] }),
  route('orders-internal', '/api/orders', { host: 'internal.example.com' }),
  route('api-partner', '/api', { host: 'partner.example.com' }),
  route('v2', '/api/v2', { strip_prefix: true }),
  route('shop-euro', '/shop/€', { methods: ['GET'] }),
  route('files', '/files', { host: 'cdn.example.com', methods: ['GET'], strip_prefix: true }),
  route('reports', '/reports'),
  route('reports-www', '/reports', { host: 'www.example.com', methods: ['GET'] }),
]);

const HOST = 'api.example.com';

function outcome(target: string, host = HOST, method = 'GET'): string {
  try {
    return router.match(host, method, parseTarget(target)).entry.config.name;
  } catch (err) {
    if (err instanceof GatewayError) return err.code;
    throw err;
  }
}

function matchOf(target: string, host = HOST, method = 'GET'): RouteMatch<RouteEntry> {
  return router.match(host, method, parseTarget(target));
}

function errorOf(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('router: the tricky-target corpus (GET, host api.example.com unless stated)', () => {
  it.each(
    [
      // Valid, and where they go.
      { target: '/api/orders', expect: 'orders' },
      { target: '/api/orders/', expect: 'orders' },
      { target: '/api/orders/7', expect: 'orders' },
      { target: '/api/orders/administrator', expect: 'orders' },
      { target: '/api/orders/...', expect: 'orders' },
      { target: '/api/orders/.well-known', expect: 'orders' },
      { target: '/api/orders?x=/../admin', expect: 'orders' },
      { target: '/api/orders?q=%2e%2e/%2F;%00', expect: 'orders' },
      { target: '/api/%6frders', expect: 'orders' },
      { target: '/api/orders/%20x', expect: 'orders' },
      { target: '/api/orders/admin', expect: 'orders-admin' },
      { target: '/api/orders/admin/', expect: 'orders-admin' },
      { target: '/api/%6Frders/%61dmin', expect: 'orders-admin' },
      { target: '/api/v2/x', expect: 'v2' },
      { target: '/shop/%E2%82%AC', expect: 'shop-euro' },
      { target: '/shop/%e2%82%ac/item', expect: 'shop-euro' },
      // Whole segments, case-sensitive, deny by default.
      { target: '/api/ordersX', expect: 'route_not_found' },
      { target: '/API/orders', expect: 'route_not_found' },
      { target: '/api/Orders', expect: 'route_not_found' },
      { target: '/api', expect: 'route_not_found' },
      { target: '/', expect: 'route_not_found' },
      { target: '/shop/euro', expect: 'route_not_found' },
      // Ambiguous: refused before matching.
      { target: '/api/orders/../admin', expect: 'bad_path' },
      { target: '/a/../b', expect: 'bad_path' },
      { target: '/a/./b', expect: 'bad_path' },
      { target: '/api/./orders', expect: 'bad_path' },
      { target: '/api/orders/%2e%2e/admin', expect: 'bad_path' },
      { target: '/api/orders/%2E%2e/admin', expect: 'bad_path' },
      { target: '/api/orders/.%2e/admin', expect: 'bad_path' },
      { target: '/api%2Forders', expect: 'bad_path' },
      { target: '/api%2forders', expect: 'bad_path' },
      { target: '/api/orders%5Cadmin', expect: 'bad_path' },
      { target: '/api/orders%5cadmin', expect: 'bad_path' },
      { target: '/api\\orders', expect: 'bad_path' },
      { target: '\\\\evil.com\\x', expect: 'bad_path' },
      { target: '//api/orders', expect: 'bad_path' },
      { target: '//evil.com/x', expect: 'bad_path' },
      { target: '/api//orders', expect: 'bad_path' },
      { target: '/api/orders%00', expect: 'bad_path' },
      { target: '/api/orders%0a', expect: 'bad_path' },
      { target: '/api/orders\u0000', expect: 'bad_path' },
      { target: '/api/or ders', expect: 'bad_path' },
      { target: '/api/ordérs', expect: 'bad_path' },
      { target: '/api/%252e%252e/orders', expect: 'bad_path' },
      { target: '/api/orders%25', expect: 'bad_path' },
      { target: '/api/orders;jsessionid=1', expect: 'bad_path' },
      { target: '/a;b', expect: 'bad_path' },
      { target: '/api/orders/..;/admin', expect: 'bad_path' },
      { target: '/api/orders/.;/admin', expect: 'bad_path' },
      { target: '/api/orders%3Badmin', expect: 'bad_path' },
      { target: 'http://x/api/orders', expect: 'bad_path' },
      { target: '*', expect: 'bad_path' },
      { target: '/api/orders#frag', expect: 'bad_path' },
      { target: '/api/orders/%C0%AE%C0%AE/admin', expect: 'bad_path' },
      { target: '/api/orders/%ED%A0%80', expect: 'bad_path' },
      { target: '/api/orders/%e2%82', expect: 'bad_path' },
      { target: '/api/orders/%G1', expect: 'bad_path' },
      { target: '/api/orders/%4', expect: 'bad_path' },
      { target: '/api/orders/%EF%BC%8E%EF%BC%8E/admin', expect: 'bad_path' },
      // Host and method precedence.
      { target: '/api/orders', host: 'internal.example.com', expect: 'orders-internal' },
      {
        target: '/api/orders/7',
        host: 'Internal.Example.COM:8443',
        method: 'DELETE',
        expect: 'orders-internal',
      },
      { target: '/api/orders', host: 'internal.example.com.', expect: 'orders-internal' },
      { target: '/api/orders/admin', host: 'internal.example.com', expect: 'orders-admin' },
      { target: '/api/orders', host: 'partner.example.com', expect: 'orders' },
      { target: '/api/other', host: 'partner.example.com', expect: 'api-partner' },
      { target: '/api', host: 'partner.example.com', method: 'DELETE', expect: 'api-partner' },
      { target: '/api/other', expect: 'route_not_found' },
      { target: '/anything', host: 'www.example.com', expect: 'www-root' },
      { target: '/api/ordersX', host: 'www.example.com', expect: 'www-root' },
      { target: '/api/orders', host: 'www.example.com', expect: 'orders' },
      { target: '/anything', host: 'www.example.com', method: 'POST', expect: 'method_not_allowed' },
      { target: '/files/a.png', host: 'cdn.example.com', expect: 'files' },
      { target: '/files/a.png', expect: 'route_not_found' },
      { target: '/api/orders', method: 'HEAD', expect: 'orders' },
      { target: '/api/orders', method: 'DELETE', expect: 'method_not_allowed' },
      { target: '/api/orders/admin', method: 'POST', expect: 'method_not_allowed' },
      { target: '/reports/1', method: 'POST', expect: 'reports' },
      { target: '/reports/1', host: 'www.example.com', method: 'POST', expect: 'method_not_allowed' },
      { target: '/api/orders', host: 'evil.com@www.example.com', expect: 'bad_request' },
    ].map((row) => ({ host: HOST, method: 'GET', ...row })),
  )('$method $target (host $host) → $expect', ({ target, host, method, expect: expected }) => {
    expect(outcome(target, host, method)).toBe(expected);
  });
});

describe('router: security properties', () => {
  it('a method refused by a longer prefix is 405, never a fall-back to a shorter prefix that allows it', () => {
    const err = errorOf(() => matchOf('/api/orders/admin', HOST, 'POST'));
    expect(err.code).toBe('method_not_allowed');
    expect(err.status).toBe(405);
    expect(err.headers).toEqual({ Allow: 'GET, HEAD' });
  });

  it('a method-limited route is not bypassed through a catch-all root route', () => {
    const guarded = createRouter([route('all', '/'), route('admin', '/admin', { methods: ['GET'] })]);
    const err = errorOf(() => guarded.match(HOST, 'POST', parseTarget('/admin/users')));
    expect(err.code).toBe('method_not_allowed');
    expect(guarded.match(HOST, 'POST', parseTarget('/administrator')).entry.config.name).toBe('all');
  });

  it('a host-specific route that refuses a method is 405, never a fall-back to the host-less route', () => {
    const err = errorOf(() => matchOf('/reports', 'www.example.com', 'DELETE'));
    expect(err.code).toBe('method_not_allowed');
    expect(err.headers).toEqual({ Allow: 'GET, HEAD' });
  });

  it('Allow lists every method at the winning prefix, HEAD right after GET', () => {
    const err = errorOf(() => matchOf('/api/orders/7', HOST, 'PUT'));
    expect(err.status).toBe(405);
    expect(err.headers).toEqual({ Allow: 'GET, HEAD, POST' });
  });

  it('a trailing dot or other case in Host does not dodge a host-specific route', () => {
    expect(outcome('/reports', 'WWW.Example.com.:443', 'POST')).toBe('method_not_allowed');
  });

  it('an unknown host gets 404 route_not_found where only host-specific routes exist', () => {
    const err = errorOf(() => matchOf('/anything', 'unknown.example.com'));
    expect(err.code).toBe('route_not_found');
    expect(err.status).toBe(404);
  });
});

describe('router: exact routes and reserved paths', () => {
  const exact = (name: string, path: string, methods: string[]): RouteEntry => ({
    ...route(name, path, { methods, strip_prefix: true }),
    exact: true,
  });
  const reserved = createRouter(
    [
      route('all', '/'),
      route('all-hosted', '/', { host: 'app.example.com' }),
      exact('login', '/auth/login', ['POST']),
      exact('profile', '/me', ['GET']),
      exact('sessions-list', '/me/sessions', ['GET']),
      {
        ...route('sessions-revoke', '/me/sessions', { methods: ['DELETE'], strip_prefix: true }),
        exact: false,
      },
      exact('jwks', '/.well-known/jwks.json', ['GET']),
      route('orders', '/api/orders'),
    ],
    ['/auth', '/me', '/.well-known/jwks.json'],
  );
  const at = (target: string, method = 'GET', host = HOST): string => {
    try {
      return reserved.match(host, method, parseTarget(target)).entry.config.name;
    } catch (err) {
      if (err instanceof GatewayError) return err.code;
      throw err;
    }
  };

  it.each([
    ['/auth/login', 'POST', 'login'],
    ['/auth/login/', 'POST', 'login'],
    ['/auth/login', 'GET', 'method_not_allowed'],
    ['/auth/login/x', 'POST', 'route_not_found'],
    ['/auth/login/x/', 'POST', 'route_not_found'],
    ['/auth', 'GET', 'route_not_found'],
    ['/auth/', 'GET', 'route_not_found'],
    ['/auth/other', 'DELETE', 'route_not_found'],
    ['/%61uth/other', 'GET', 'route_not_found'],
    ['/me', 'GET', 'profile'],
    ['/me/', 'HEAD', 'profile'],
    ['/me', 'POST', 'method_not_allowed'],
    ['/me/x', 'GET', 'route_not_found'],
    ['/me/x', 'POST', 'route_not_found'],
    ['/me/sessions', 'GET', 'sessions-list'],
    ['/me/sessions', 'DELETE', 'sessions-revoke'],
    ['/me/sessions/abc', 'DELETE', 'sessions-revoke'],
    ['/me/sessions/abc', 'GET', 'method_not_allowed'],
    ['/.well-known/jwks.json', 'GET', 'jwks'],
    ['/.well-known/jwks.json/x', 'GET', 'route_not_found'],
    ['/.well-known/other', 'GET', 'all'],
    ['/authx', 'GET', 'all'],
    ['/mex/y', 'GET', 'all'],
    ['/api/orders/1', 'GET', 'orders'],
    ['/', 'GET', 'all'],
  ])('%s %s → %s', (target, method, expected) => {
    expect(at(target, method)).toBe(expected);
  });

  it('a host-specific catch-all does not reach under a reserved path either', () => {
    expect(at('/auth/x', 'GET', 'app.example.com')).toBe('route_not_found');
    expect(at('/elsewhere', 'GET', 'app.example.com')).toBe('all-hosted');
  });

  it('Allow below a path lists only the methods of the routes that match below it', () => {
    const err = errorOf(() => reserved.match(HOST, 'GET', parseTarget('/me/sessions/abc')));
    expect(err.headers).toEqual({ Allow: 'DELETE' });
    const own = errorOf(() => reserved.match(HOST, 'PUT', parseTarget('/me/sessions')));
    expect(own.headers).toEqual({ Allow: 'GET, HEAD, DELETE' });
  });

  it('an exact route without a reserved path above it lets a shorter prefix take what is below', () => {
    const plain = createRouter([route('all', '/'), exact('ping', '/ping', ['GET'])]);
    expect(plain.match(HOST, 'GET', parseTarget('/ping')).entry.config.name).toBe('ping');
    expect(plain.match(HOST, 'GET', parseTarget('/ping/x')).entry.config.name).toBe('all');
  });

  it('refuses / or a non-canonical path as a reserved path', () => {
    expect(() => createRouter([], ['/'])).toThrow(/reserve every path/);
    expect(() => createRouter([], ['/a/../b'])).toThrow(/reserved path/);
  });
});

describe('router: forwardPath', () => {
  it.each([
    { target: '/api/orders/7?b=2&a=1', host: HOST, forward: '/api/orders/7?b=2&a=1' },
    { target: '/api/%6frders?x=%2F&y=%zz;', host: HOST, forward: '/api/%6frders?x=%2F&y=%zz;' },
    { target: '/api/orders/%E2%82%AC?', host: HOST, forward: '/api/orders/%E2%82%AC?' },
    { target: '/api/v2/items?q=1', host: HOST, forward: '/items?q=1' },
    { target: '/api/v2/items/', host: HOST, forward: '/items/' },
    { target: '/api/v2', host: HOST, forward: '/' },
    { target: '/api/v2/', host: HOST, forward: '/' },
    { target: '/api/v2?x=/../a', host: HOST, forward: '/?x=/../a' },
    { target: '/api/v2/%E2%82%ac/x', host: HOST, forward: '/%E2%82%ac/x' },
    { target: '/%61pi/%76%32/a?%41', host: HOST, forward: '/a?%41' },
    { target: '/files', host: 'cdn.example.com', forward: '/' },
    { target: '/files/a/b.png?v=1', host: 'cdn.example.com', forward: '/a/b.png?v=1' },
  ])('$target → $forward', ({ target, host, forward }) => {
    expect(matchOf(target, host).forwardPath).toBe(forward);
  });
});

describe('router: compilation', () => {
  it('refuses two routes with the same path, host and an overlapping method', () => {
    const routes = [route('a', '/x', { methods: ['GET', 'POST'] }), route('b', '/x', { methods: ['POST'] })];
    expect(() => createRouter(routes)).toThrow(/routes\[1\].*POST.*routes\[0\]/);
    expect(checkRoutes(routes.map((r) => r.config))).toHaveLength(1);
  });

  it('refuses an all-methods route beside another at the same path and host', () => {
    expect(
      checkRoutes([route('a', '/x').config, route('b', '/x', { methods: ['GET'] }).config]),
    ).toHaveLength(1);
  });

  it('splits one path between routes by method, and by host, without a conflict', () => {
    const split = createRouter([
      route('read', '/x', { methods: ['GET'] }),
      route('write', '/x', { methods: ['POST', 'PUT'] }),
      route('head', '/x', { methods: ['HEAD'] }),
      route('other-host', '/x', { host: 'Other.example.com', methods: ['GET'] }),
    ]);
    const at = (method: string, host = HOST) =>
      split.match(host, method, parseTarget('/x/1')).entry.config.name;
    expect([at('GET'), at('HEAD'), at('PUT'), at('GET', 'other.example.com')]).toEqual([
      'read',
      'head',
      'write',
      'other-host',
    ]);
    expect(errorOf(() => at('DELETE')).headers).toEqual({ Allow: 'GET, POST, PUT, HEAD' });
  });

  it.each(['/a/../b', '/a//b', '/a/', '/a;b', '/a%2Fb', '/a?x', 'a'])('refuses route path %j', (path) => {
    expect(checkRoutes([route('bad', path).config])).toEqual([expect.stringMatching(/^routes\[0\]\.path: /)]);
  });

  it('refuses a garbage route host', () => {
    expect(checkRoutes([route('bad', '/a', { host: 'a b' }).config])).toEqual([
      'routes[0].host: is not a valid host name',
    ]);
  });

  it('compiles a route written with escapes like one written decoded', () => {
    const r = createRouter([route('o', '/%6frders')]);
    expect(r.match(HOST, 'GET', parseTarget('/orders')).entry.config.name).toBe('o');
  });
});

// Segment characters: plain ASCII (sent raw or escaped), escapable-only ASCII, and multi-byte UTF-8.
const SEGMENT_CHARS = [
  'a',
  'b',
  'v',
  '2',
  '-',
  '_',
  '~',
  '.',
  '!',
  '$',
  '&',
  "'",
  '(',
  ')',
  '*',
  '+',
  ',',
  '=',
  ':',
  '@',
];
const ESCAPED_ONLY = [' ', '"', '<', '>', '?', '#', '[', ']', '^', '`', '{', '|', '}', 'é', '€', '😀', '中'];

function escapeChar(ch: string, upper: boolean): string {
  const hex = Array.from(new TextEncoder().encode(ch), (b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return upper ? hex.toUpperCase() : hex;
}

const encodedChar = fc.oneof(
  fc.tuple(fc.constantFrom(...SEGMENT_CHARS), fc.boolean(), fc.boolean()).map(([ch, encode, upper]) => ({
    ch,
    raw: encode ? escapeChar(ch, upper) : ch,
  })),
  fc
    .tuple(fc.constantFrom(...ESCAPED_ONLY), fc.boolean())
    .map(([ch, upper]) => ({ ch, raw: escapeChar(ch, upper) })),
);
const segment = fc
  .array(encodedChar, { minLength: 1, maxLength: 6 })
  .map((chars) => ({ decoded: chars.map((c) => c.ch).join(''), raw: chars.map((c) => c.raw).join('') }))
  .filter((s) => s.decoded !== '.' && s.decoded !== '..');

describe('router: properties', () => {
  const propertyRouter = createRouter([
    route('root', '/'),
    route('a', '/a', { strip_prefix: true }),
    route('ab', '/a/b', { strip_prefix: true }),
    route('euro', '/€', { strip_prefix: true }),
    route('v2', '/v2'),
  ]);

  it('forwardPath re-parses to the same decoded segments, minus the stripped prefix, with the query intact', () => {
    const query = fc.constantFrom('', '?', '?x=1', '?a=%2F/../b;c', '?q=%zz');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 5 }), fc.boolean(), query, (segments, trailing, q) => {
        const raw = `/${segments.map((s) => s.raw).join('/')}${trailing && segments.length > 0 ? '/' : ''}`;
        const decoded = segments.map((s) => s.decoded);
        if (trailing || segments.length === 0) decoded.push('');
        const parsed = parseTarget(raw + q);
        expect(parsed.segments).toEqual(decoded);
        const { entry, forwardPath } = propertyRouter.match(HOST, 'GET', parsed);
        const forwarded = parseTarget(forwardPath);
        expect(forwarded.query).toBe(q);
        const stripped = entry.config.strip_prefix ? routeDepth(entry.config.path) : 0;
        const rest = decoded.slice(stripped);
        expect(forwarded.segments).toEqual(rest.length === 0 ? [''] : rest);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but a GatewayError, whatever the target', () => {
    const target = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc
        .array(fc.constantFrom('/', 'a', 'b', '%', '2e', '.', '€', '%E2%82%AC', ';', '?'), { maxLength: 10 })
        .map((parts) => `/${parts.join('')}`),
    );
    fc.assert(
      fc.property(target, fc.constantFrom('GET', 'POST'), (t, method) => {
        try {
          propertyRouter.match(HOST, method, parseTarget(t));
          router.match(HOST, method, parseTarget(t));
        } catch (err) {
          expect(err).toBeInstanceOf(GatewayError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

function routeDepth(path: string): number {
  return path === '/' ? 0 : path.split('/').length - 1;
}
