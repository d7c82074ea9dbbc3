// What a reload reports: the restart-only keys that differ from the config the process started with (by
// path, never by value), the keys a reload applies (not reported), and a rotated admin token.
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../config/index.js';
import type { GatewayConfig } from '../../config/types.js';
import { changeOf, fingerprintOf } from '../../gateway/reload.js';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long!!';
const TOKEN = 'admin-token-for-tests-0123456789abcdef';
const BASE = `
server: { host: 127.0.0.1, port: 8080, body_limit: 10mb, keep_alive_timeout: 5s }
admin: { host: 127.0.0.1, port: 9090, token: ${TOKEN} }
storage: { users: "sqlite:/tmp/portcullis-reload-unit.db", state: memory, on_state_error: deny }
tokens: { secret: "${SECRET}", access_ttl: 15m, refresh_ttl: 1d }
passwords: { min_length: 8, argon2: { memory_kib: 19456 } }
logging: { level: info }
routes:
  - { name: app, path: /app, upstream: "http://127.0.0.1:3000", auth: public }
`;

/** The base config with `from` replaced by `to` in its text. */
function config(from = '', to = ''): GatewayConfig {
  if (from !== '' && !BASE.includes(from)) throw new Error(`not in the base: ${from}`);
  return loadConfigText(BASE.replace(from, to), { file: null, dir: '/tmp', env: {} }).config;
}

const base = config();

describe('changeOf', () => {
  it.each([
    ['server.port', config('port: 8080', 'port: 8081')],
    ['server.keep_alive_timeout', config('keep_alive_timeout: 5s', 'keep_alive_timeout: 9s')],
    ['admin.port', config('port: 9090', 'port: 9091')],
    ['storage.state', config('state: memory', 'state: "redis://127.0.0.1:6379/0"')],
    ['tokens.secret', config(`secret: "${SECRET}"`, `secret: "${SECRET}-rotated"`)],
    ['tokens.access_ttl', config('access_ttl: 15m', 'access_ttl: 5m')],
    ['passwords.min_length', config('min_length: 8', 'min_length: 12')],
    ['passwords.argon2.memory_kib', config('memory_kib: 19456', 'memory_kib: 8192')],
    ['logging.level', config('level: info', 'level: debug')],
  ])('reports %s, a restart-only key', (key, next) => {
    expect(changeOf(base, base, next)).toEqual({ restartRequired: [key], adminTokenChanged: false });
  });

  it.each([
    ['a route', config('path: /app', 'path: /other')],
    ['server.body_limit', config('body_limit: 10mb', 'body_limit: 1mb')],
    ['tokens.refresh_ttl', config('refresh_ttl: 1d', 'refresh_ttl: 2d')],
    ['storage.on_state_error', config('on_state_error: deny', 'on_state_error: allow')],
  ])('does not report %s: a reload applies it', (_what, next) => {
    expect(changeOf(base, base, next).restartRequired).toEqual([]);
  });

  it('names the key, never the value of a secret', () => {
    const rotated = `${SECRET}-rotated`;
    const change = JSON.stringify(
      changeOf(base, base, config(`secret: "${SECRET}"`, `secret: "${rotated}"`)),
    );
    expect(change).not.toContain(rotated);
    expect(change).not.toContain(SECRET);
  });

  it('applies admin.token: it is reported as rotated, not as needing a restart', () => {
    const next = config(`token: ${TOKEN}`, 'token: rotated-admin-token-0123456789abcdefghij');
    expect(changeOf(base, base, next)).toEqual({ restartRequired: [], adminTokenChanged: true });
  });

  it('compares restart-only keys with the start config: one changed by an earlier reload is named again', () => {
    const moved = config('port: 8080', 'port: 8081');
    expect(changeOf(base, moved, moved).restartRequired).toEqual(['server.port']);
    // Back to the start value: nothing left to restart for.
    expect(changeOf(base, moved, base).restartRequired).toEqual([]);
  });
});

describe('fingerprintOf', () => {
  it('is equal for the same text loaded twice and differs for another config', () => {
    expect(fingerprintOf(config())).toBe(fingerprintOf(config()));
    expect(fingerprintOf(config('port: 8080', 'port: 8081'))).not.toBe(fingerprintOf(base));
  });
});
