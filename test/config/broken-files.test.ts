// Broken config files and the exact aggregated message each one must produce (key path, message, line).
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} is the config syntax under test, not a template
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigText } from '../../config/index.js';

const SECRET = 'k'.repeat(32);

function problemsOf(lines: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfigText(lines.join('\n'), { file: null, dir: '/srv/portcullis', env });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('the config loaded');
}

const cases: [string, readonly string[], NodeJS.ProcessEnv, readonly string[]][] = [
  [
    'unknown keys at every depth',
    [
      'sever: {}',
      'server:',
      '  prot: 8080',
      'tokens:',
      `  secret: ${SECRET}`,
      '  algoritm: HS256',
      'routes:',
      '  - name: a',
      '    path: /a',
      '    upstream: http://127.0.0.1:3000',
      '    methdos: [GET]',
    ],
    {},
    [
      'sever: unknown key (line 1)',
      'server.prot: unknown key (line 3)',
      'tokens.algoritm: unknown key (line 6)',
      'routes[0].methdos: unknown key (line 11)',
    ],
  ],
  [
    'YAML duplicate key',
    ['tokens:', `  secret: ${SECRET}`, '  secret: again'],
    {},
    ['yaml: Map keys must be unique (line 3)'],
  ],
  [
    'YAML tab indentation',
    ['server:', '\tport: 8080'],
    {},
    ['yaml: Tabs are not allowed as indentation (line 2)'],
  ],
  [
    'unset variables, and their key is not reported twice',
    ['admin:', '  token: ${ADMIN_TOKEN}', 'tokens:', '  secret: ${SECRET_KEY}'],
    {},
    [
      'admin.token: environment variable ADMIN_TOKEN is not set (line 2)',
      'tokens.secret: environment variable SECRET_KEY is not set (line 4)',
    ],
  ],
  [
    'malformed variable references',
    ['tokens:', `  secret: ${SECRET}`, '  issuer: ${1X}', '  audience: ${AUD'],
    {},
    [
      'tokens.issuer: invalid variable reference ${1X}: use ${NAME} or ${NAME:-default} (line 3)',
      'tokens.audience: has an unterminated ${ (write $$ for a literal $) (line 4)',
    ],
  ],
  [
    'empty file: HS256 needs a secret',
    [''],
    {},
    ['tokens.secret: is required when tokens.algorithm is HS256'],
  ],
  [
    'short HS256 secret (counted in UTF-8 bytes), short admin token',
    ['admin:', '  token: ${ADMIN_TOKEN}', 'tokens:', '  secret: ${SECRET_KEY}'],
    { ADMIN_TOKEN: 'a'.repeat(31), SECRET_KEY: 'é'.repeat(15) },
    [
      'admin.token: must be at least 32 characters (or empty to turn the admin API off) (line 2)',
      'tokens.secret: must be at least 32 bytes (UTF-8) for HS256 (line 4)',
    ],
  ],
  [
    'asymmetric algorithm without a key file',
    ['tokens:', '  algorithm: EdDSA', '  private_key_file: ""'],
    {},
    ['tokens.private_key_file: is required when tokens.algorithm is EdDSA (line 3)'],
  ],
  [
    'workers > 1 on single-machine storage',
    ['server:', '  workers: 2', 'tokens:', `  secret: ${SECRET}`],
    {},
    [
      'server.workers: workers > 1 needs shared storage, not storage.state: memory and storage.users: sqlite: ' +
        'use a redis:// URL for storage.state and a postgres:// URL for storage.users (line 2)',
    ],
  ],
  [
    'PostgreSQL users without a shared assertion key',
    [
      'storage:',
      '  users: postgres://gw@db:5432/gw',
      'identity_headers:',
      '  assertion_key_file: ""',
      'tokens:',
      `  secret: ${SECRET}`,
    ],
    {},
    [
      'identity_headers.assertion_key_file: is required when storage.users is PostgreSQL: every replica must ' +
        'share one assertion key (create it with portcullis keygen --algorithm EdDSA --out FILE) (line 4)',
    ],
  ],
  [
    'bad units',
    [
      'server:',
      '  body_limit: 1 megabyte',
      '  headers_timeout: 10',
      'tokens:',
      `  secret: ${SECRET}`,
      '  access_ttl: 15 minutes',
      'rate_limits:',
      '  login: { per_ip: 10 per minute, per_email: 0/m }',
      'routes:',
      '  - { name: a, path: /a, upstream: "http://u:1", timeout: 0s, rate_limit: 5/w, body_limit: -1 }',
    ],
    {},
    [
      'server.body_limit: must be a size like 512b, 64kb, 1mb, 1gb or a number of bytes (line 2)',
      'server.headers_timeout: must be a duration like 30s, 15m, 1h (line 3)',
      'tokens.access_ttl: must be a duration like 30s, 15m, 1h (line 6)',
      'rate_limits.login.per_email: must be a rate like 100/h, 5/m, 10/s (line 8)',
      'rate_limits.login.per_ip: must be a rate like 100/h, 5/m, 10/s (line 8)',
      'routes[0].rate_limit: must be a rate like 100/h, 5/m, 10/s (line 10)',
      'routes[0].timeout: must be longer than 0 (line 10)',
      'routes[0].body_limit: must be a size like 512b, 64kb, 1mb, 1gb or a number of bytes (line 10)',
    ],
  ],
  [
    'wrong types, ranges and enums',
    [
      'server:',
      '  port: eighty',
      '  workers: 0',
      'admin:',
      '  port: 70000',
      'tokens:',
      `  secret: ${SECRET}`,
      'passwords:',
      '  reject_common: yes',
      'logging:',
      '  level: verbose',
      'sessions: 3',
    ],
    {},
    [
      'server.port: must be a number (line 2)',
      'server.workers: must be at least 1 (line 3)',
      'admin.port: must be at most 65535 (line 5)',
      'passwords.reject_common: must be true or false (line 9)',
      'logging.level: must be one of fatal, error, warn, info, debug, trace, silent (line 11)',
      'sessions: must be a mapping (line 12)',
    ],
  ],
  [
    'route keys: required, path rules, methods, host',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'routes:',
      '  - path: /a/../b',
      '    upstream: http://u:1',
      '  - name: b',
      '    path: api',
      '    upstream: http://u:1',
      '  - name: c d',
      '    path: /a%2fb',
      '    methods: [GET, "BAD METHOD"]',
      '    host: "*.example.com"',
      '  - name: d',
      '    path: /x;y',
      '    methods: []',
      '  - name: e',
      '    path: /x//y',
      '    upstream: http://u:1',
      '    auth: anonymous',
    ],
    {},
    [
      'routes[0].name: is required (line 4)',
      'routes[0].path: must not contain . or .. segments (line 4)',
      'routes[1].path: must start with / (line 7)',
      "routes[2].name: must be 1-64 letters, digits, '.', '_' or '-' (line 9)",
      'routes[2].upstream: is required (line 9)',
      'routes[2].path: must not contain % (write the path decoded) (line 10)',
      'routes[2].methods[1]: must be an HTTP method like GET (line 11)',
      'routes[2].host: must be a host name like api.example.com (no scheme, path, port range or wildcard) (line 12)',
      'routes[3].upstream: is required (line 13)',
      'routes[3].path: must not contain ; (line 14)',
      'routes[3].methods: must not be empty (line 15)',
      'routes[4].path: must not contain an empty segment (//) (line 17)',
      'routes[4].auth: must be one of required, optional, public (line 19)',
    ],
  ],
  [
    'upstream URLs: origins only, never credentials',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'routes:',
      '  - name: a',
      '    path: /a',
      '    upstream:',
      '      - http://u:1/base',
      '      - http://user:hunter2@u:1',
      '      - http://u:1/?x=1',
      '      - ftp://u',
      '  - name: b',
      '    path: /b',
      '    upstream: []',
      '  - name: c',
      '    path: /c',
      '    upstream: not a url',
    ],
    {},
    [
      'routes[0].upstream[0]: must not have a path (the request path is forwarded as is) (line 7)',
      'routes[0].upstream[1]: must not contain credentials (line 8)',
      'routes[0].upstream[2]: must not have a query or fragment (line 9)',
      'routes[0].upstream[3]: must be an http(s) URL like http://127.0.0.1:3000 (line 10)',
      'routes[1].upstream: must be a URL or a non-empty list of URLs (line 13)',
      'routes[2].upstream: must be an http(s) URL like http://127.0.0.1:3000 (line 16)',
    ],
  ],
  [
    'route clashes: duplicate name, same host/path/methods, roles without auth',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'routes:',
      '  - { name: orders, path: /api/orders, methods: [GET, POST], upstream: "http://u:1" }',
      '  - { name: orders, path: /api/orders/, methods: [PUT], upstream: "http://u:1" }',
      '  - { name: orders-read, path: /api/orders, methods: [get], upstream: "http://u:1" }',
      '  - { name: other-host, path: /api/orders, host: Orders.Example.com, upstream: "http://u:1" }',
      '  - { name: any, path: /api/orders, host: "orders.example.com:8443", upstream: "http://u:1" }',
      '  - { name: pub, path: /pub, auth: public, roles: [admin], upstream: "http://u:1" }',
    ],
    {},
    [
      'routes[1].name: same name as routes[0] (line 5)',
      'routes[2].path: same host, path and methods as routes[0] "orders" (line 6)',
      'routes[4].path: same host, path and methods as routes[3] "other-host" (line 8)',
      'routes[5].roles: need auth: required (an anonymous caller has no roles, auth is public) (line 9)',
    ],
  ],
  [
    'routes on paths the gateway terminates',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'auth:',
      '  base_path: /auth/',
      'routes:',
      '  - { name: a, path: /auth, upstream: "http://u:1" }',
      '  - { name: b, path: /auth/login/x, upstream: "http://u:1" }',
      '  - { name: c, path: /api/users/me, upstream: "http://u:1" }',
      '  - { name: d, path: /.well-known/jwks.json, upstream: "http://u:1" }',
      '  - { name: e, path: /authx, upstream: "http://u:1" }',
      '  - { name: f, path: /api/users, upstream: "http://u:1" }',
    ],
    {},
    [
      'routes[0].path: is served by the gateway itself (auth.base_path) and cannot be routed (line 6)',
      'routes[1].path: is served by the gateway itself (auth.base_path) and cannot be routed (line 7)',
      'routes[2].path: is served by the gateway itself (auth.profile_path) and cannot be routed (line 8)',
      'routes[3].path: is served by the gateway itself (/.well-known/jwks.json) and cannot be routed (line 9)',
    ],
  ],
  [
    'trusted proxies, CORS origins and the echo upstream',
    [
      'server:',
      '  trusted_proxies: [10.0.0.0/8, 10.0.0.0/33, proxy.internal, "::1", "fd00::/129"]',
      '  cors:',
      '    allowed_origins: ["*", "https://app.example.com", "https://app.example.com/login"]',
      '    allowed_headers: [If-Match, "If Match", "*"]',
      'tokens:',
      `  secret: ${SECRET}`,
      'echo_upstream: 8081',
    ],
    {},
    [
      'server.trusted_proxies[1]: must be an IP address or CIDR like 10.0.0.0/8 (line 2)',
      'server.trusted_proxies[2]: must be an IP address or CIDR like 10.0.0.0/8 (line 2)',
      'server.trusted_proxies[4]: must be an IP address or CIDR like 10.0.0.0/8 (line 2)',
      'server.cors.allowed_origins[0]: must be an origin like https://app.example.com (line 4)',
      'server.cors.allowed_origins[2]: must be an origin like https://app.example.com (line 4)',
      'server.cors.allowed_headers[1]: must be a header name like If-Match (line 5)',
      'server.cors.allowed_headers[2]: must be a header name like If-Match (line 5)',
      'echo_upstream: must be a string (line 8)',
    ],
  ],
  [
    'identity headers: reserved, invalid and clashing names',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'identity_headers:',
      '  user_id: X-Forwarded-User',
      '  email: Authorization',
      '  roles: X User Roles',
      '  session_id: x_user_email',
      '  assertion: X-USER-EMAIL',
    ],
    {},
    [
      'identity_headers.user_id: X-Forwarded-User is reserved: choose another header name (line 4)',
      'identity_headers.email: Authorization is reserved: choose another header name (line 5)',
      'identity_headers.roles: must be an HTTP header name like X-User-Id (line 6)',
      'identity_headers.assertion: same header as identity_headers.session_id (line 8)',
    ],
  ],
  [
    'storage URLs',
    [
      'storage:',
      '  users: mysql://db/portcullis',
      '  state: redis:6379',
      '  on_state_error: ignore',
      'tokens:',
      `  secret: ${SECRET}`,
    ],
    {},
    [
      'storage.users: must be sqlite:<path> or a postgres:// URL (line 2)',
      'storage.state: must be memory or a Redis URL (not a URL; expected redis://[[user:]pass@]host[:port][/db], rediss://…, redis-sentinel://[[user:]pass@]host:port,host:port/master[/db], redis-cluster://[[user:]pass@]host:port,host:port) (line 3)',
      'storage.on_state_error: must be one of deny, allow (line 4)',
    ],
  ],
  [
    'auth paths: the root is not allowed, paths follow the route rules',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'auth:',
      '  base_path: /',
      '  profile_path: api/me',
      '  profile_cache_ttl: 1y',
    ],
    {},
    [
      'auth.base_path: must not be / (line 4)',
      'auth.profile_path: must start with / (line 5)',
      'auth.profile_cache_ttl: must be a duration like 30s, 15m, 1h (line 6)',
    ],
  ],
  ['the document is not a mapping', ['- server', '- routes'], {}, ['config: must be a mapping (line 1)']],
  [
    'routes is not a list, sections missing their mapping',
    ['tokens:', `  secret: ${SECRET}`, 'routes:', '  name: a', 'server: [1]'],
    {},
    ['routes: must be a list (line 3)', 'server: must be a mapping (line 5)'],
  ],
  [
    'numbers that must be ordered',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'passwords: { min_length: 20, max_length: 10 }',
      'brute_force: { failure_limit: 10, account_failure_limit: 5 }',
      'server: { port: 8080 }',
      'admin: { port: 8080 }',
    ],
    {},
    [
      'passwords.max_length: must be at least passwords.min_length (line 3)',
      'brute_force.account_failure_limit: must be at least brute_force.failure_limit (line 4)',
      'admin.port: must differ from server.port (line 6)',
    ],
  ],
  [
    'more than one YAML document',
    ['tokens:', `  secret: ${SECRET}`, '---', 'server: { port: 1 }'],
    {},
    ['config: only one YAML document is allowed (line 3)'],
  ],
  [
    'merge keys: refused once each, with no schema noise about the keys they would have merged',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'x-route: &route { path: /a, upstream: "http://u:1" }',
      'routes:',
      '  - name: a',
      '    <<: *route',
      'server:',
      '  <<: { port: 1 }',
      'x-shared: &shared { <<: { a: 1 } }',
      'x-one: *shared',
      'x-two: *shared',
    ],
    {},
    [
      'routes[0]: merge keys (<<) are not supported: write the keys out (line 6)',
      'server: merge keys (<<) are not supported: write the keys out (line 8)',
      'x-shared: merge keys (<<) are not supported: write the keys out (line 9)',
    ],
  ],
  [
    'a ${ inside a default: refused, never kept as literal text',
    ['tokens:', `  secret: ${SECRET}`, '  issuer: ${ISSUER:-${OTHER}}', '  audience: ${AUD:-a${B:-c}}'],
    { OTHER: 'other' },
    [
      'tokens.issuer: ${ISSUER:-…} has ${ in its default: nested references are not supported (line 3)',
      'tokens.audience: ${AUD:-…} has ${ in its default: nested references are not supported (line 4)',
    ],
  ],
  [
    'max_header_size out of bounds: 0, 1 byte and more than 1mb',
    ['tokens:', `  secret: ${SECRET}`, 'server: { max_header_size: 0 }'],
    {},
    ['server.max_header_size: must be from 1kb to 1mb (line 3)'],
  ],
  [
    'max_header_size of 1 byte',
    ['tokens:', `  secret: ${SECRET}`, 'server:', '  max_header_size: 1'],
    {},
    ['server.max_header_size: must be from 1kb to 1mb (line 4)'],
  ],
  [
    'max_header_size of 5gb',
    ['tokens:', `  secret: ${SECRET}`, 'server:', '  max_header_size: 5gb'],
    {},
    ['server.max_header_size: must be from 1kb to 1mb (line 4)'],
  ],
  [
    'ipv6_limit_prefix below 32',
    ['tokens:', `  secret: ${SECRET}`, 'server: { ipv6_limit_prefix: 16 }'],
    {},
    ['server.ipv6_limit_prefix: must be at least 32 (line 3)'],
  ],
  [
    'ipv6_limit_prefix beyond 128',
    ['tokens:', `  secret: ${SECRET}`, 'server:', '  ipv6_limit_prefix: 129'],
    {},
    ['server.ipv6_limit_prefix: must be at most 128 (line 4)'],
  ],
  [
    'a huge port is reported once',
    ['tokens:', `  secret: ${SECRET}`, 'server:', '  port: 99999999999999999999', 'admin:', '  port: 1.5'],
    {},
    ['server.port: must be at most 65535 (line 4)', 'admin.port: must be an integer (line 6)'],
  ],
  [
    'admin tokens with white space or too few different characters',
    ['tokens:', `  secret: ${SECRET}`, 'admin:', '  token: ${ADMIN_TOKEN}'],
    { ADMIN_TOKEN: ' '.repeat(40) },
    ['admin.token: must not contain white space or control characters (line 4)'],
  ],
  [
    'admin token with too few different characters',
    ['tokens:', `  secret: ${SECRET}`, 'admin:', '  token: ${ADMIN_TOKEN}'],
    { ADMIN_TOKEN: 'ab'.repeat(20) },
    ['admin.token: must have at least 8 different characters (line 4)'],
  ],
  [
    'admin token with a space inside',
    ['tokens:', `  secret: ${SECRET}`, 'admin:', '  token: "correct horse battery staple and more"'],
    {},
    ['admin.token: must not contain white space or control characters (line 4)'],
  ],
  [
    'every listener pair on overlapping hosts: server, admin and the echo upstream',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'server: { host: 0.0.0.0, port: 8080 }',
      'admin: { host: 127.0.0.1, port: 8081 }',
      'echo_upstream: "localhost:8081"',
    ],
    {},
    ['echo_upstream: must use another port than admin.port (line 5)'],
  ],
  [
    'the echo upstream on the main port, the admin listener on the main port via the IPv6 wildcard',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'server: { host: 127.0.0.1, port: 8080 }',
      'admin: { host: "::", port: 8080 }',
      'echo_upstream: "127.0.0.1:8080"',
    ],
    {},
    [
      'admin.port: must differ from server.port (line 4)',
      'echo_upstream: must use another port than server.port (line 5)',
    ],
  ],
  [
    'a HEAD route beside a GET route on the same path: a tie (the GET route serves HEAD too)',
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'routes:',
      '  - { name: get, path: /u, methods: [GET], upstream: "http://u:1" }',
      '  - { name: head, path: /u, methods: [HEAD], upstream: "http://u:1" }',
      '  - { name: head2, path: /v, methods: [HEAD], upstream: "http://u:1" }',
      '  - { name: get2, path: /v, methods: [GET, POST], upstream: "http://u:1" }',
    ],
    {},
    [
      'routes[1].path: same host, path and methods as routes[0] "get" (a GET route serves HEAD too) (line 5)',
      'routes[3].path: same host, path and methods as routes[2] "head2" (a GET route serves HEAD too) (line 7)',
    ],
  ],
  [
    'listener hosts with a port or scheme, or digits that are no IP address (the resolver failed at start)',
    [
      'server: { host: "0.0.0.0:8080" }',
      'admin: { host: 999.1.1.1 }',
      'echo_upstream: "http://127.0.0.1:8081"',
      'tokens:',
      `  secret: ${SECRET}`,
    ],
    {},
    [
      'server.host: must be an IP address like 127.0.0.1 or ::, or a host name like localhost (no scheme, no port) (line 1)',
      'admin.host: must be an IP address like 127.0.0.1 or ::, or a host name like localhost (no scheme, no port) (line 2)',
      'echo_upstream: must be host:port like 127.0.0.1:8081, or "" to turn it off (line 3)',
    ],
  ],
  [
    'a brute-force lock longer than a timer holds (24.8 days) would never hold: cooloff is at most 24d',
    ['tokens:', `  secret: ${SECRET}`, 'brute_force:', '  cooloff: 30d'],
    {},
    ['brute_force.cooloff: must be at most 24d (line 4)'],
  ],
  [
    "duration upper bounds name each key's own bound, in the config's units",
    [
      'tokens:',
      `  secret: ${SECRET}`,
      'auth:',
      '  verification_ttl: 31d',
      '  totp_challenge_ttl: 2h',
      '  password_reset_ttl: 25h',
      'server:',
      '  body_timeout: 1441m',
      'routes:',
      '  - { name: a, path: /a, upstream: "http://u:1", timeout: 2d }',
    ],
    {},
    [
      'auth.verification_ttl: must be at most 30d (line 4)',
      'auth.totp_challenge_ttl: must be at most 1h (line 5)',
      'auth.password_reset_ttl: must be at most 1d (line 6)',
      'server.body_timeout: must be at most 1d (line 8)',
      'routes[0].timeout: must be at most 1d (line 10)',
    ],
  ],
  [
    '$NAME without braces: refused, never kept as the literal text "$ADMIN_TOKEN"',
    ['admin:', '  token: $ADMIN_TOKEN', 'tokens:', '  secret: $SECRET_KEY', '  issuer: costs 5$, not $$x'],
    { ADMIN_TOKEN: 'a-real-admin-token-0123456789abcdef', SECRET_KEY: SECRET },
    [
      'admin.token: has a $ before a name: write ${NAME} to use a variable, or $$ for a literal $ (line 2)',
      'tokens.secret: has a $ before a name: write ${NAME} to use a variable, or $$ for a literal $ (line 4)',
    ],
  ],
  [
    'SECURITY: a malformed reference does not echo its default (it may be the secret itself)',
    ['tokens:', '  secret: ${SECRET-KEY:-Sup3rSecretLiteralFallbackValue-0123456789}'],
    {},
    ['tokens.secret: invalid variable reference ${SECRET-…}: use ${NAME} or ${NAME:-default} (line 2)'],
  ],
  [
    'a %YAML 1.1 directive (octal 0100, yes/on booleans): refused, the file is YAML 1.2',
    ['# comment', '%YAML 1.1', '---', 'tokens:', `  secret: ${SECRET}`, 'admin: { port: 0100 }'],
    {},
    ['config: only YAML 1.2 is supported: remove the %YAML 1.1 directive (line 2)'],
  ],
  [
    'an unknown %YAML version',
    ['%YAML 1.3', '---', 'tokens:', `  secret: ${SECRET}`],
    {},
    ['yaml: Unsupported YAML version 1.3 (line 1)'],
  ],
];

describe('broken config files', () => {
  it.each(cases)('%s', (_name, lines, env, expected) => {
    expect(problemsOf(lines, env)).toBe(expected.join('\n'));
  });

  it('has a table large enough to mean something', () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
  });

  it('carries the problems as data: path, message and line', () => {
    try {
      loadConfigText('server:\n  prot: 1\n', { file: null, dir: '/x', env: {} });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toEqual([
        { path: 'server.prot', message: 'unknown key', line: 2 },
        { path: 'tokens.secret', message: 'is required when tokens.algorithm is HS256', line: null },
      ]);
    }
  });
});
