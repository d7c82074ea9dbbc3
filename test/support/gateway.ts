// Starts the real gateway in-process on port 0 from YAML text, with its log captured as parsed
// JSON lines so tests can assert on what was (and was not) logged.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfigText } from '../../config/index.js';
import type { GatewayConfig } from '../../config/types.js';
import { type GatewayHandle, startGateway } from '../../gateway/gateway.js';
import { createLogger } from '../../gateway/logger.js';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!!';
export const TEST_ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';

export interface TestGateway extends GatewayHandle {
  readonly dir: string;
  readonly config: GatewayConfig;
  /** Every log line so far, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** Every log line so far, raw (for "this secret never appears" checks). */
  rawLog(): string;
  /** What the next reload() reads instead of the original YAML. */
  setYaml(next: string): void;
  stop(): Promise<void>;
}

/** The base of every test config: loopback, port 0, quiet, a temp SQLite file, memory state. */
export function baseYaml(dir: string, extra: BaseOverrides = {}): string {
  const more = (s: string | undefined) => (s === undefined ? '' : `, ${s}`);
  return `
server: { host: 127.0.0.1, port: 0${more(extra.server)} }
admin: { host: 127.0.0.1, port: 0, token: ${TEST_ADMIN_TOKEN}${more(extra.admin)} }
storage: { users: "sqlite:${join(dir, 'users.db')}", state: "${extra.state ?? 'memory'}"${more(extra.storage)} }
tokens: { secret: "${TEST_SECRET}"${more(extra.tokens)} }
logging: { level: ${extra.logLevel ?? 'info'} }
`;
}

/** Extra entries for the base's flow maps, e.g. `{ server: 'trusted_proxies: [127.0.0.2]' }`. */
export interface BaseOverrides {
  readonly server?: string;
  readonly admin?: string;
  /** e.g. `refresh_reuse_grace: 300ms` or `algorithm: EdDSA, private_key_file: /k.pem` (the secret stays). */
  readonly tokens?: string;
  readonly logLevel?: string;
  /** `storage.state`, e.g. a Redis URL (default `memory`). */
  readonly state?: string;
  /** Extra `storage` entries, e.g. `on_state_error: allow`. */
  readonly storage?: string;
}

export async function startTestGateway(
  yaml: string,
  options: { env?: NodeJS.ProcessEnv; dir?: string; base?: BaseOverrides } = {},
): Promise<TestGateway> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'portcullis-test-'));
  let routesYaml = yaml;
  const env = options.env ?? {};
  const load = () =>
    loadConfigText(`${baseYaml(dir, options.base)}\n${routesYaml}`, { file: null, dir, env }).config;
  const config = load();
  const lines: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        lines.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const log = createLogger({ level: config.logging.level, format: 'json', destination });
  const handle = await startGateway({ config, reloadConfig: load, log });
  return Object.assign(Object.create(handle) as GatewayHandle, handle, {
    dir,
    config,
    logs,
    rawLog: () => lines.join('\n'),
    setYaml: (next: string) => {
      routesYaml = next;
    },
    async stop() {
      await handle.shutdown();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  });
}
