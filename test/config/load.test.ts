// The loader end to end on real files: the shipped example, defaults, normalisation, paths, freezing.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULTS,
  type GatewayConfig,
  loadConfigFile,
  loadConfigText,
  PLACEHOLDER_SECRET,
} from '../../config/index.js';

const EXAMPLE = new URL('../../gateway.yaml.example', import.meta.url).pathname;
const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const SECRET = 'k'.repeat(32);

const load = (text: string, env: NodeJS.ProcessEnv = {}, dir = '/srv/gw'): GatewayConfig =>
  loadConfigText(text, { file: null, dir, env }).config;
const withSecret = (text: string): string => `tokens:\n  secret: ${SECRET}\n${text}`;

describe('gateway.yaml.example', () => {
  const loaded = loadConfigFile(EXAMPLE, { env: {} });
  const { config } = loaded;

  it('loads, with the two routes of the first run', () => {
    expect(loaded.source).toEqual({ file: EXAMPLE, dir: ROOT });
    expect(config.routes.map((r) => [r.name, r.path, r.auth, r.strip_prefix, r.upstream])).toEqual([
      ['echo', '/api/echo', 'optional', false, ['http://127.0.0.1:8081']],
      ['echo-public', '/public/echo', 'public', true, ['http://127.0.0.1:8081']],
    ]);
    expect(config.echo_upstream).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(config.storage.users).toBe(`sqlite:${ROOT}/data/portcullis.db`);
  });

  it('needs no environment: unset secrets get placeholders and a warning each when only checking', () => {
    expect(config.tokens.secret).toBe(PLACEHOLDER_SECRET);
    expect(config.admin.token).toBe(PLACEHOLDER_SECRET);
    expect(loaded.warnings).toEqual([
      `ADMIN_TOKEN is not set: the gateway will generate a secret and keep it in ${ROOT}/data/generated-secrets.json; set ADMIN_TOKEN in production`,
      `SECRET_KEY is not set: the gateway will generate a secret and keep it in ${ROOT}/data/generated-secrets.json; set SECRET_KEY in production`,
    ]);
  });

  it('uses the environment when it is set, with no warning', () => {
    const env = { SECRET_KEY: 's'.repeat(40), ADMIN_TOKEN: 'admin-token-from-the-environment-0123456789' };
    const withEnv = loadConfigFile(EXAMPLE, { env });
    expect(withEnv.config.tokens.secret).toBe(env.SECRET_KEY);
    expect(withEnv.config.admin.token).toBe(env.ADMIN_TOKEN);
    expect(withEnv.warnings).toEqual([]);
  });

  it('states the real defaults (what it shows is what an empty file gets)', () => {
    const empty = load(withSecret(''), {}, ROOT);
    for (const key of [
      'server',
      'storage',
      'sessions',
      'device_binding',
      'auth',
      'passwords',
      'mail',
    ] as const) {
      expect(config[key], key).toEqual(empty[key]);
    }
    expect(config.brute_force).toEqual(DEFAULTS.brute_force);
    expect(config.rate_limits).toEqual(DEFAULTS.rate_limits);
    expect(config.identity_headers).toEqual(DEFAULTS.identity_headers);
    expect(config.logging).toEqual(DEFAULTS.logging);
    expect({ ...config.tokens, secret: null }).toEqual({ ...DEFAULTS.tokens });
    expect(empty.server).toEqual(DEFAULTS.server);
  });

  it('documents every key with a comment', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(EXAMPLE, 'utf8');
    const leafPaths = (value: unknown, prefix: string): string[] =>
      value !== null && typeof value === 'object' && !Array.isArray(value) && !('points' in value)
        ? Object.entries(value).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k))
        : [prefix];
    const { route, ...sections } = DEFAULTS;
    for (const path of leafPaths(sections, '')) {
      const key = path.split('.').at(-1);
      expect(text, path).toMatch(new RegExp(`^\\s*${key}:.*#`, 'm'));
    }
    for (const key of ['name', 'path', 'upstream', ...Object.keys(route)]) {
      expect(text, `routes[].${key}`).toMatch(new RegExp(`^\\s*#\\s*(- )?${key}:`, 'm'));
    }
  });
});

describe('storage.state', () => {
  // The config check used `new URL`, which refuses a host list with ports: every Sentinel and Cluster
  // URL the README shows was refused at start and by check-config.
  it.each([
    'redis://127.0.0.1:6379/2',
    'rediss://:pw@cache.internal',
    'redis-sentinel://h1:26379,h2:26379/mymaster',
    'redis-sentinel://u:p%40ss@h1:26379,[::1]:26380/mymaster/3?sentinel_password=sp',
    'redis-cluster://h1:7000,h2:7001',
    'redis-cluster://:pw@h1:7000,h2:7001,h3',
  ])('accepts %s as the README documents it', (url) => {
    expect(load(withSecret(`storage:\n  state: "${url}"`)).storage.state).toBe(url);
  });
});

describe('normalisation', () => {
  it('normalises route paths, methods, hosts and upstreams', () => {
    const [route] = load(
      withSecret(
        [
          'routes:',
          '  - name: a',
          '    path: /api/orders/',
          '    methods: [get, Post, GET]',
          '    host: API.Example.COM:8443',
          '    upstream: ["http://127.0.0.1:3000/", "https://EXAMPLE.org:443"]',
          '    rate_limit: 30/m',
          '    body_limit: 64KB',
        ].join('\n'),
      ),
    ).routes;
    expect(route).toEqual({
      name: 'a',
      path: '/api/orders',
      methods: ['GET', 'POST'],
      host: 'api.example.com',
      upstream: ['http://127.0.0.1:3000', 'https://example.org'],
      auth: 'required',
      roles: [],
      strip_prefix: false,
      rate_limit: { points: 30, duration_ms: 60_000, text: '30/m' },
      timeout: 30_000,
      websocket: false,
      forward_authorization: false,
      body_limit: 65_536,
      device_binding: null,
    });
  });

  it('keeps / as the root path and treats "" as "not set"', () => {
    const config = load(
      withSecret(
        [
          'admin: { token: "" }',
          'identity_headers: { assertion: "", assertion_key_file: "" }',
          'echo_upstream: ""',
          'routes:',
          '  - { name: all, path: /, upstream: "http://u:1", host: "", rate_limit: "", body_limit: "" }',
        ].join('\n'),
      ),
    );
    expect(config.admin.token).toBeNull();
    expect(config.identity_headers.assertion).toBeNull();
    expect(config.identity_headers.assertion_key_file).toBeNull();
    expect(config.echo_upstream).toBeNull();
    expect(config.routes[0]).toMatchObject({ path: '/', host: null, rate_limit: null, body_limit: null });
  });

  it('treats a key with no value as absent (its default applies)', () => {
    expect(load(withSecret('server:\n  port:\nlogging:\n')).server.port).toBe(8080);
  });

  it('resolves relative file paths against the config file folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      withSecret(
        [
          'storage: { users: "sqlite:./data/x.db" }',
          'identity_headers: { assertion: X-Auth-Assertion, assertion_key_file: keys/assert.pem }',
        ].join('\n'),
      ).replace('tokens:\n', 'tokens:\n  private_key_file: ../signing.pem\n'),
    );
    const { config } = loadConfigFile(file, { env: {} });
    expect(config.storage.users).toBe(`sqlite:${dir}/data/x.db`);
    expect(config.tokens.private_key_file).toBe(join(dir, '..', 'signing.pem'));
    expect(config.identity_headers.assertion_key_file).toBe(`${dir}/keys/assert.pem`);
    expect(load(withSecret('storage: { users: "sqlite:/var/lib/p.db" }')).storage.users).toBe(
      'sqlite:/var/lib/p.db',
    );
    expect(load(withSecret('storage: { users: "sqlite::memory:" }')).storage.users).toBe('sqlite::memory:');
    const pg = 'postgres://u:p@db:5432/portcullis';
    expect(
      load(
        withSecret(
          `storage: { users: "${pg}", state: "redis://r:6379/0" }\nserver: { workers: 4 }\n` +
            'identity_headers: { assertion_key_file: /k/assertion.pem }',
        ),
      ).storage,
    ).toEqual({
      users: pg,
      state: 'redis://r:6379/0',
      on_state_error: 'deny',
    });
  });

  it('reports an unreadable file as a ConfigError naming it', () => {
    const missing = join(tmpdir(), 'portcullis-no-such-dir', 'gateway.yaml');
    expect(() => loadConfigFile(missing, { env: {} })).toThrow(
      new ConfigError([{ path: missing, message: 'cannot read the config file (ENOENT)', line: null }]),
    );
  });
});

describe('the file must be UTF-8', () => {
  const write = (bytes: Buffer): string => {
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-utf8-')), 'gateway.yaml');
    writeFileSync(file, bytes);
    return file;
  };
  const text = (s: string): Buffer => Buffer.from(s, 'utf8');

  it('refuses a Latin-1 secret instead of turning it into U+FFFD, naming the line of the first bad byte', () => {
    // 32 bytes 0xA0..0xBF: a lenient decoder gives 32 × U+FFFD, the same "secret" for every such file.
    const latin1 = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xa0 + i));
    const file = write(Buffer.concat([text('# gateway\ntokens:\n  secret: "'), latin1, text('"\n')]));
    expect(() => loadConfigFile(file, { env: {} })).toThrow(
      new ConfigError([{ path: 'config', message: 'file is not valid UTF-8', line: 3 }]),
    );
  });

  it.each([
    ['a lone continuation byte', [0x80]],
    ['a truncated sequence before a newline', [0xe2, 0x82, 0x0a]],
    ['an overlong encoding of /', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a truncated sequence at the end of the file', [0xf0, 0x9f, 0x98]],
  ])('refuses %s', (_name, bytes) => {
    const file = write(Buffer.concat([text(`tokens:\n  secret: ${SECRET}\n# é ✓ 😀 `), Buffer.from(bytes)]));
    expect(() => loadConfigFile(file, { env: {} })).toThrow(
      new ConfigError([{ path: 'config', message: 'file is not valid UTF-8', line: 3 }]),
    );
  });

  it('takes multi-byte UTF-8 and a UTF-8 BOM as before', () => {
    const secret = 'é'.repeat(16);
    const plain = write(text(`tokens:\n  secret: ${secret}\n  issuer: 🏰 ✓\n`));
    expect(loadConfigFile(plain, { env: {} }).config.tokens).toMatchObject({ secret, issuer: '🏰 ✓' });
    const bom = write(
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text(`tokens:\n  secret: ${secret}\n`)]),
    );
    expect(loadConfigFile(bom, { env: {} }).config.tokens.secret).toBe(secret);
  });
});

describe('listeners', () => {
  it('may share a port on addresses that do not overlap, and port 0 always', () => {
    const config = load(
      withSecret(
        [
          'server: { host: 127.0.0.1, port: 8080 }',
          'admin: { host: 127.0.0.2, port: 8080 }',
          'echo_upstream: "[::1]:0"',
        ].join('\n'),
      ),
    );
    expect([config.server.port, config.admin.port, config.echo_upstream?.port]).toEqual([8080, 8080, 0]);
    expect(
      load(withSecret('server: { host: 0.0.0.0, port: 8080 }\nadmin: { host: "::1", port: 8080 }')).admin
        .port,
    ).toBe(8080);
    expect(
      load(withSecret('server: { port: 0 }\nadmin: { port: 0 }\necho_upstream: "127.0.0.1:0"')).server.port,
    ).toBe(0);
  });

  it('ipv6_limit_prefix: 64 by default, 32 and 128 (the bounds) accepted', () => {
    expect(load(withSecret('')).server.ipv6_limit_prefix).toBe(64);
    expect(load(withSecret('server: { ipv6_limit_prefix: 32 }')).server.ipv6_limit_prefix).toBe(32);
    expect(load(withSecret('server: { ipv6_limit_prefix: 128 }')).server.ipv6_limit_prefix).toBe(128);
  });

  it('max_header_size takes 1kb and 1mb, the bounds', () => {
    expect(load(withSecret('server: { max_header_size: 1kb }')).server.max_header_size).toBe(1024);
    expect(load(withSecret('server: { max_header_size: 1mb }')).server.max_header_size).toBe(1024 * 1024);
  });
});

describe('the result is deep-frozen', () => {
  const loaded = loadConfigFile(EXAMPLE, { env: {} });
  it.each([
    ['the result', loaded],
    ['config', loaded.config],
    ['a section', loaded.config.server],
    ['a nested section', loaded.config.server.cors],
    ['a list', loaded.config.routes],
    ['a route', loaded.config.routes[0]],
    ['a route upstream list', loaded.config.routes[0]?.upstream],
    ['a rate', loaded.config.rate_limits.global.anonymous],
    ['warnings', loaded.warnings],
    ['source', loaded.source],
  ])('%s', (_name, value) => {
    expect(Object.isFrozen(value)).toBe(true);
  });

  it('throws on mutation (ESM is strict mode)', () => {
    expect(() => {
      (loaded.config.server as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => (loaded.config.routes as unknown as unknown[]).push({})).toThrow(TypeError);
  });
});

describe('security properties of the loader', () => {
  it('a __proto__ key is an unknown key, never a prototype change', () => {
    const text = withSecret('server:\n  __proto__:\n    port: 1\n');
    expect(() => load(text)).toThrow(
      new ConfigError([{ path: 'server.__proto__', message: 'unknown key', line: 4 }]),
    );
    expect(({} as { port?: number }).port).toBeUndefined();
  });

  it('rejects alias bombs ("billion laughs") instead of expanding them', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      levels.push(
        `${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10)
          .fill(`*${'abcdefgh'[i - 1]}`)
          .join(', ')}]`,
      );
    expect(() => load(levels.join('\n'))).toThrow(/^yaml: document uses too many aliases \(line \d+\)$/);
  });

  it('routes[].device_binding: off, user-agent or dpop; absent is null (the global mode); anything else names the key and line', () => {
    const routes = (extra: string) =>
      withSecret(
        [
          'routes:',
          '  - { name: a, path: /a, upstream: "http://127.0.0.1:1" }',
          `  - { name: b, path: /b, upstream: "http://127.0.0.1:1"${extra} }`,
        ].join('\n'),
      );
    expect(load(routes('')).routes.map((r) => r.device_binding)).toEqual([null, null]);
    for (const mode of ['off', 'user-agent', 'dpop'] as const)
      expect(load(routes(`, device_binding: ${mode}`)).routes[1]!.device_binding).toBe(mode);
    expect(() => load(routes(', device_binding: DPoP'))).toThrow(
      new ConfigError([
        { path: 'routes[1].device_binding', message: 'must be one of off, user-agent, dpop', line: 5 },
      ]),
    );
    expect(() => load(routes(', device_binding: [dpop]'))).toThrow(/^routes\[1\]\.device_binding: /);
  });

  it('never echoes a rejected value (it may be a password)', () => {
    const messageOf = (text: string): string => {
      try {
        load(text);
      } catch (err) {
        if (err instanceof ConfigError) return err.message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(messageOf(withSecret('storage:\n  users: "mysql://admin:hunter2@db/x"\n'))).toBe(
      'storage.users: must be sqlite:<path> or a postgres:// URL (line 4)',
    );
    expect(messageOf('tokens:\n  secret: short-secret-hunter2\n')).toBe(
      'tokens.secret: must be at least 32 bytes (UTF-8) for HS256 (line 2)',
    );
  });
});
