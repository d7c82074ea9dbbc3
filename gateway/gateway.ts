// Assembles one gateway process: runtime state, main listener, admin listener, the optional echo
// upstream, reload and graceful shutdown. The CLI calls it; tests call it with port 0.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminServer } from '../admin/server.js';
import type { GatewayConfig } from '../config/types.js';
import { createEchoUpstream } from './echo-upstream.js';
import type { Logger } from './logger.js';
import { compileRuntime, originsOf, type RuntimeState } from './runtime.js';
import { createMainListener } from './server.js';
import { PoolRegistry } from './upstream/http-client.js';
import { createWebSocketRelay } from './upstream/websocket.js';

export interface StartOptions {
  readonly config: GatewayConfig;
  /** Re-reads the config for SIGHUP and the admin reload; throws (e.g. ConfigError) when it is invalid. */
  readonly reloadConfig?: () => GatewayConfig;
  readonly log: Logger;
}

export interface GatewayHandle {
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  readonly adminUrl: string;
  current(): RuntimeState;
  /** Swaps in a freshly loaded config; on failure the old one stays and the error is returned. */
  reload(): { ok: true; generation: number } | { ok: false; error: Error };
  shutdown(): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

function urlFor(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

export async function startGateway(options: StartOptions): Promise<GatewayHandle> {
  const { log } = options;
  const pools = new PoolRegistry();
  const websockets = createWebSocketRelay();
  const deps = { pools, websockets, log };
  let state = compileRuntime(options.config, deps, 1);
  let shuttingDown = false;
  const config = options.config;

  let echo: Server | null = null;
  if (config.echo_upstream !== null) {
    echo = createEchoUpstream();
    await listen(echo, config.echo_upstream.host, config.echo_upstream.port);
    log.info(
      { address: `${config.echo_upstream.host}:${config.echo_upstream.port}` },
      'echo upstream listening',
    );
  }

  const main = createMainListener(config, () => state, log);
  const admin = createAdminServer({
    host: config.admin.host,
    port: config.admin.port,
    token: config.admin.token,
    readiness: async () => (shuttingDown ? ['shutting down'] : []),
    log,
  });
  const port = await listen(main.server, config.server.host, config.server.port);
  const adminPort = await listen(admin, config.admin.host, config.admin.port);
  log.info({ port, adminPort, routes: state.routes.length }, 'gateway listening');

  return {
    port,
    adminPort,
    url: urlFor(config.server.host, port),
    adminUrl: urlFor(config.admin.host, adminPort),
    current: () => state,
    reload() {
      if (options.reloadConfig === undefined)
        return { ok: false, error: new Error('no config file to reload') };
      try {
        const next = compileRuntime(options.reloadConfig(), deps, state.generation + 1);
        state = next;
        pools.retainOnly(originsOf(next));
        log.info({ generation: next.generation, routes: next.routes.length }, 'config reloaded');
        return { ok: true, generation: next.generation };
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        log.error({ err: error.message }, 'config reload failed: keeping the current config');
        return { ok: false, error };
      }
    },
    async shutdown() {
      if (shuttingDown) return;
      shuttingDown = true;
      log.info({ inFlight: main.inFlight() }, 'shutting down: draining in-flight requests');
      await main.drain(config.server.shutdown_timeout);
      websockets.close();
      await pools.close();
      await Promise.all([closeServer(admin), echo === null ? undefined : closeServer(echo)]);
      log.info({}, 'shutdown complete');
      log.flush();
    },
  };
}
