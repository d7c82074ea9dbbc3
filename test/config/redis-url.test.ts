// The storage.state URL forms the Redis store accepts, and the ones it refuses without echoing secrets.
import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../config/redis-url.js';
import { createLogger } from '../../gateway/logger.js';
import { createStateStore } from '../../gateway/state/create-state-store.js';

const none = { username: undefined, password: undefined };

describe('parseRedisUrl', () => {
  it.each([
    [
      'redis://localhost',
      { kind: 'standalone', ...none, node: { host: 'localhost', port: 6379 }, db: 0, tls: false },
    ],
    [
      'redis://10.0.0.5:6380/3',
      { kind: 'standalone', ...none, node: { host: '10.0.0.5', port: 6380 }, db: 3, tls: false },
    ],
    [
      'rediss://cache.example.com:6390/',
      { kind: 'standalone', ...none, node: { host: 'cache.example.com', port: 6390 }, db: 0, tls: true },
    ],
    [
      'redis://s3cret@h:1/0',
      {
        kind: 'standalone',
        username: undefined,
        password: 's3cret',
        node: { host: 'h', port: 1 },
        db: 0,
        tls: false,
      },
    ],
    [
      'redis://:p%40ss@h',
      {
        kind: 'standalone',
        username: undefined,
        password: 'p@ss',
        node: { host: 'h', port: 6379 },
        db: 0,
        tls: false,
      },
    ],
    [
      'redis://gw:pw@[::1]:7000/2',
      {
        kind: 'standalone',
        username: 'gw',
        password: 'pw',
        node: { host: '::1', port: 7000 },
        db: 2,
        tls: false,
      },
    ],
    [
      'redis-sentinel://pw@s1:26380,s2/mymaster/4?sentinel_password=sp',
      {
        kind: 'sentinel',
        username: undefined,
        password: 'pw',
        sentinels: [
          { host: 's1', port: 26380 },
          { host: 's2', port: 26379 },
        ],
        masterName: 'mymaster',
        db: 4,
        sentinelPassword: 'sp',
      },
    ],
    [
      'redis-sentinel://s1:26379/m',
      {
        kind: 'sentinel',
        ...none,
        sentinels: [{ host: 's1', port: 26379 }],
        masterName: 'm',
        db: 0,
        sentinelPassword: undefined,
      },
    ],
    [
      'redis-cluster://u:p@n1:7000,n2:7001,n3',
      {
        kind: 'cluster',
        username: 'u',
        password: 'p',
        nodes: [
          { host: 'n1', port: 7000 },
          { host: 'n2', port: 7001 },
          { host: 'n3', port: 6379 },
        ],
      },
    ],
  ])('%s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  it.each([
    ['http://h:6379', 'unknown scheme'],
    ['redis://', 'not a URL'],
    ['redis://h:0', 'port'],
    ['redis://h:65536', 'port'],
    ['redis://h:6379/x', 'database'],
    ['redis://h/0/1', 'path'],
    ['redis://a:1,b:2', 'exactly one host'],
    ['redis://h?tls=1', 'unknown URL parameter'],
    ['redis-sentinel://s1:26379', 'master'],
    ['redis-sentinel://s1/m/1/2', 'master'],
    ['redis-cluster://n1:7000/3', 'db 0'],
    ['redis://h%zz:1', 'host'],
    ['redis://p%zz@h', 'percent-escape'],
  ])('refuses %s (%s)', (url, why) => {
    expect(() => parseRedisUrl(url)).toThrow(why);
  });

  it('never repeats the URL, which may carry a password, in its error', () => {
    expect(() => parseRedisUrl('redis://:hunter2-secret@h:99999')).toThrow(/^(?!.*hunter2).*$/s);
  });
});

describe('createStateStore', () => {
  const log = createLogger({ level: 'silent', format: 'json' });

  it('memory: the in-process store and limiters', async () => {
    const { store, limiters } = await createStateStore('memory', { tombstoneTtlMs: 1000, log });
    expect(store.kind).toBe('memory');
    const limiter = limiters.create(
      't',
      { points: 1, duration_ms: 60_000, text: '1/m' },
      { failClosed: true },
    );
    expect((await limiter.consume('k')).allowed).toBe(true);
    expect((await limiter.consume('k')).allowed).toBe(false);
    await store.close();
  });

  it('a Redis URL gives the Redis store, created without waiting for Redis', async () => {
    const { store } = await createStateStore('redis://127.0.0.1:1/0', { tombstoneTtlMs: 1000, log });
    expect(store.kind).toBe('redis');
    await expect(store.ping()).rejects.toMatchObject({ code: 'state_unavailable', status: 503 });
    await store.close();
  });

  it('refuses an unreadable URL', async () => {
    await expect(createStateStore('mongodb://h', { tombstoneTtlMs: 1000, log })).rejects.toThrow(
      'storage.state',
    );
  });
});
