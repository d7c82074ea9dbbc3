// deploy/docker-compose.yml and the deploy/gateway.yaml it mounts: parsed, required fields present, ports,
// hosts, paths and credentials consistent between the two, and the config accepted by the real loader.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../config/index.js';
import type { GatewayConfig } from '../../config/types.js';
import { at, configVariables, DEPLOY, has, list, readYaml, record, str } from './manifests.js';

const compose = readYaml(join(DEPLOY, 'docker-compose.yml'));
const services = record(at(compose, 'services'), 'services');
const service = (name: string) => record(services[name], `services.${name}`);
const gateway = service('gateway');

// What an operator puts in deploy/.env.
const DOT_ENV: Record<string, string> = {
  SECRET_KEY: 'k'.repeat(64),
  ADMIN_TOKEN: 'ad1f0c3e'.repeat(8),
  POSTGRES_PASSWORD: '0123456789abcdef0123456789abcdef',
};

/** Compose's interpolation of ${NAME}, ${NAME:?message} and ${NAME:-default} from the .env file. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([?-])([^}]*))?\}/g, (_, name: string, op, rest) => {
    const given = env[name];
    if (given !== undefined && given !== '') return given;
    if (op === '-') return rest;
    throw new Error(`compose would stop: ${name} is not set (${rest ?? ''})`);
  });
}

function environment(name: string, env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record(at(service(name), 'environment'))).map(([k, v]) => [
      k,
      interpolate(str(v, k), env),
    ]),
  );
}

/** "host:container" or "ip:host:container" port mappings. */
function published(name: string): { ip: string | null; host: number; container: number }[] {
  if (!has(service(name), 'ports')) return [];
  return list(at(service(name), 'ports')).map((p) => {
    const parts = str(p).split(':');
    const container = Number(parts.at(-1));
    const host = Number(parts.at(-2));
    return { ip: parts.length === 3 ? (parts[0] as string) : null, host, container };
  });
}

function mounts(name: string): { source: string; target: string; mode: string | null }[] {
  return list(at(service(name), 'volumes')).map((v) => {
    const [source, target, mode] = str(v).split(':');
    return { source: source as string, target: target as string, mode: mode ?? null };
  });
}

const command = list(at(gateway, 'command'))
  .map((c) => str(c))
  .join(' ');
const configMount = mounts('gateway').find((m) => m.source === './gateway.yaml');
const configText = readFileSync(join(DEPLOY, 'gateway.yaml'), 'utf8');
const load = (env: Record<string, string>): GatewayConfig =>
  loadConfigText(configText, { file: '/etc/portcullis/gateway.yaml', dir: '/etc/portcullis', env }).config;
const config = load(environment('gateway', DOT_ENV));

describe('deploy/docker-compose.yml', () => {
  it('has the gateway, PostgreSQL, Redis and an example upstream', () => {
    expect(Object.keys(services).sort()).toEqual(['echo', 'gateway', 'postgres', 'redis']);
    for (const name of Object.keys(services)) {
      expect(str(at(service(name), 'image'), name)).toMatch(/^[\w./-]+:[\w.-]+$/); // pinned tags, never latest
      expect(at(service(name), 'image')).not.toMatch(/:latest$/);
      expect(at(service(name), 'restart')).toBe('unless-stopped');
    }
  });

  it('builds the gateway from the repository Dockerfile', () => {
    const context = resolve(DEPLOY, str(at(gateway, 'build.context')));
    expect(existsSync(join(context, str(at(gateway, 'build.dockerfile'))))).toBe(true);
    expect(existsSync(join(context, 'package.json'))).toBe(true);
  });

  it.each(['gateway', 'postgres', 'redis', 'echo'])('%s has a healthcheck', (name) => {
    const test = list(at(service(name), 'healthcheck.test'));
    expect(test[0]).toBe('CMD');
    expect(test.length).toBeGreaterThan(1);
  });

  it('starts the gateway only once PostgreSQL and Redis are healthy', () => {
    expect(at(gateway, 'depends_on.postgres.condition')).toBe('service_healthy');
    expect(at(gateway, 'depends_on.redis.condition')).toBe('service_healthy');
    expect(has(gateway, 'depends_on.echo')).toBe(true);
  });

  it('mounts the config where the command reads it, read-only', () => {
    expect(configMount).toEqual({
      source: './gateway.yaml',
      target: '/etc/portcullis/gateway.yaml',
      mode: 'ro',
    });
    expect(command).toContain(`start --config ${configMount?.target}`);
    // exec: the gateway is PID 1's replacement and gets SIGTERM itself, so it drains.
    expect(command).toMatch(/exec node dist\/gateway\/cli\.js start/);
  });

  it('publishes the main port, and the admin port on the host loopback only; nothing else', () => {
    expect(published('gateway')).toEqual([
      { ip: null, host: config.server.port, container: config.server.port },
      { ip: '127.0.0.1', host: config.admin.port, container: config.admin.port },
    ]);
    for (const name of ['postgres', 'redis', 'echo']) expect(published(name)).toEqual([]);
  });

  it('probes readiness on the admin port the config listens on', () => {
    const probe = list(at(gateway, 'healthcheck.test'))
      .map((t) => str(t))
      .join(' ');
    expect(probe).toContain(`http://127.0.0.1:${config.admin.port}/readyz`);
    expect(config.admin.host).toBe('0.0.0.0');
  });

  it('drains within the stop grace period', () => {
    const grace = Number(/^(\d+)s$/.exec(str(at(gateway, 'stop_grace_period')))?.[1]);
    expect(grace * 1000).toBeGreaterThan(config.server.shutdown_timeout);
  });
});

describe('deploy/gateway.yaml under compose', () => {
  it('passes the real config loader with the environment compose gives the gateway', () => {
    expect(config.storage.state).toBe('redis://redis:6379/0');
    expect(config.routes.map((r) => r.name)).toEqual(['app', 'public']);
  });

  it('takes every secret from the environment: each variable it needs is set by compose, none generated', () => {
    expect(configText).not.toContain('@generate');
    const { required, optional } = configVariables(configText);
    expect(optional).toEqual([]);
    expect(required.sort()).toEqual(Object.keys(environment('gateway', DOT_ENV)).sort());
  });

  it('refuses to start without the .env values (compose stops first)', () => {
    expect(() => environment('gateway', {})).toThrow(/SECRET_KEY is not set/);
  });

  it('reaches PostgreSQL as the user, database and password the postgres service creates', () => {
    const db = environment('postgres', DOT_ENV);
    const url = new URL(config.storage.users);
    expect(url.hostname).toBe('postgres');
    expect(url.port).toBe('5432');
    expect(url.username).toBe(db.POSTGRES_USER);
    expect(url.pathname).toBe(`/${db.POSTGRES_DB}`);
    expect(decodeURIComponent(url.password)).toBe(db.POSTGRES_PASSWORD);
    const ready = list(at(service('postgres'), 'healthcheck.test')).map((t) => str(t));
    expect(ready).toEqual(['CMD', 'pg_isready', '-U', db.POSTGRES_USER, '-d', db.POSTGRES_DB]);
  });

  it('forwards to the echo service on the port it listens on', () => {
    const port = environment('echo', DOT_ENV).PORT;
    expect(list(at(service('echo'), 'expose')).map(String)).toContain(port);
    for (const route of config.routes) expect(route.upstream).toEqual([`http://echo:${port}`]);
  });

  it('keeps the shared assertion key on the data volume, created there once by keygen', () => {
    const key = config.identity_headers.assertion_key_file ?? '';
    const volume = mounts('gateway').find((m) => !m.source.startsWith('.'));
    expect(volume?.source).toBe('portcullis-data');
    expect(key.startsWith(`${volume?.target}/`)).toBe(true);
    expect(command).toContain(`test -f ${key}`);
    expect(command).toContain(`keygen --algorithm EdDSA --out ${key}`);
    expect(Object.keys(record(at(compose, 'volumes')))).toContain('portcullis-data');
  });

  it('turns off the echo server features that would leak its environment or files', () => {
    expect(environment('echo', DOT_ENV)).toMatchObject({
      ENABLE__ENVIRONMENT: 'false',
      ENABLE__FILE: 'false',
    });
  });
});
