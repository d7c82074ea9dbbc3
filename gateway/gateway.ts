// Assembles one gateway process: runtime state, main listener, admin listener, the optional echo
// upstream, reload and graceful shutdown. The CLI calls it; tests call it with port 0.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminApi } from '../admin/api.js';
import { createMetrics } from '../admin/metrics.js';
import { createAdminPage } from '../admin/page.js';
import { createAdminServer } from '../admin/server.js';
import type { GatewayConfig } from '../config/types.js';
import { createEchoUpstream } from './echo-upstream.js';
import { createLiveRevocation } from './live-revocation.js';
import type { Logger } from './logger.js';
import { instrumentStateStore } from './metrics.js';
import { createOperations } from './operations.js';
import { compileRuntime, originsOf, type RuntimeState } from './runtime.js';
import { createMainListener } from './server.js';
import { createServices, type Services } from './services.js';
import { PoolRegistry } from './upstream/http-client.js';
import { lazyWebSocketRelay } from './upstream/websocket-lazy.js';

/** Longest a log line waits in the logger's buffer (ms). */
const LOG_FLUSH_MS = 1_000;
/** At shutdown the audit writer gets at least this long (ms), even when the drain used up the timeout. */
const AUDIT_FLUSH_MIN_MS = 1_000;

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
  readonly services: Services;
  /** Session checks skipped under `on_state_error: allow` (also in /metrics). */
  stateChecksSkipped(): number;
  /** Requests (and upgrades) on the main listener whose response has not closed yet. */
  inFlight(): number;
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
  const websockets = lazyWebSocketRelay();
  const metrics = createMetrics();
  const opened = await createServices(options.config, log);
  // Every state-store call is timed and its failures counted, whoever makes it.
  const tracked = instrumentStateStore(opened.state, metrics);
  const services: Services = { ...opened, state: tracked };
  let stateChecksSkipped = 0;
  const live = createLiveRevocation({ state: tracked, events: services.events, log });
  const deps = {
    pools,
    websockets,
    live,
    log,
    onStateSkip: () => {
      stateChecksSkipped++;
    },
  };
  let state = compileRuntime(options.config, services, deps, 1);
  const preloadRelay = (c: GatewayConfig): void => {
    if (c.routes.some((r) => r.websocket)) websockets.preload();
  };
  preloadRelay(options.config);
  let shuttingDown = false;
  const config = options.config;

  const echo =
    config.echo_upstream === null ? null : { server: createEchoUpstream(), at: config.echo_upstream };

  function reload(): ReturnType<GatewayHandle['reload']> {
    if (options.reloadConfig === undefined)
      return { ok: false, error: new Error('no config file to reload') };
    try {
      const nextConfig = options.reloadConfig();
      const next = compileRuntime(nextConfig, services, deps, state.generation + 1);
      state = next;
      preloadRelay(nextConfig);
      pools.retainOnly(originsOf(next));
      log.info({ generation: next.generation, routes: next.routes.length }, 'config reloaded');
      return { ok: true, generation: next.generation };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      log.error({ err: error.message }, 'config reload failed: keeping the current config');
      log.flush();
      return { ok: false, error };
    }
  }

  const main = createMainListener(config, () => state, log, metrics);
  metrics.watch({
    tokenCache: () => services.tokens.cacheStats(),
    audit: () => services.audit.stats(),
    activeSessions: () => tracked.activeSessions(),
    stateChecksSkipped: () => stateChecksSkipped,
    inFlight: () => main.inFlight(),
    generation: () => state.generation,
  });
  const operations = createOperations({ ...services, guard: () => state.guard });
  const admin = createAdminServer({
    host: config.admin.host,
    port: config.admin.port,
    token: config.admin.token,
    readiness: async () => {
      const failing: string[] = shuttingDown ? ['shutting down'] : [];
      const probe = async (name: string, ping: () => Promise<void>): Promise<void> => {
        try {
          await Promise.race([ping(), new Promise((_, reject) => setTimeout(reject, 1_000).unref())]);
        } catch {
          failing.push(name);
        }
      };
      await Promise.all([
        probe('user store', () => services.users.ping()),
        probe('state store', () => services.state.ping()),
      ]);
      return failing;
    },
    api: createAdminApi({
      services,
      operations,
      current: () => state,
      reload,
      stats: () => metrics.stats(),
    }),
    metrics: () => metrics.render(),
    countApiRequest: (status) => metrics.adminRequest(status),
    page: createAdminPage(),
    log,
  });
  let port: number;
  let adminPort: number;
  try {
    if (echo !== null) {
      const echoPort = await listen(echo.server, echo.at.host, echo.at.port);
      log.info({ address: `${echo.at.host}:${echoPort}` }, 'echo upstream listening');
    }
    port = await listen(main.server, config.server.host, config.server.port);
    adminPort = await listen(admin, config.admin.host, config.admin.port);
  } catch (err) {
    // A port taken, an address not ours: nothing stays open (no listener serving half a gateway).
    await Promise.all(
      [main.server, admin, echo?.server].map((s) => (s?.listening ? closeServer(s) : undefined)),
    );
    live.close();
    await services.close(0);
    throw err;
  }
  log.info({ port, adminPort, routes: state.routes.length }, 'gateway listening');
  // The stdout logger batches writes into 4 KB blocks: on a quiet gateway the start line, a failed
  // reload or an access line could sit unseen for hours. Flush now, then at least once a second.
  log.flush();
  const flusher = setInterval(() => log.flush(), LOG_FLUSH_MS);
  flusher.unref();

  return {
    port,
    adminPort,
    url: urlFor(config.server.host, port),
    adminUrl: urlFor(config.admin.host, adminPort),
    current: () => state,
    services,
    stateChecksSkipped: () => stateChecksSkipped,
    inFlight: () => main.inFlight(),
    reload,
    async shutdown() {
      if (shuttingDown) return;
      shuttingDown = true;
      log.info({ inFlight: main.inFlight() }, 'shutting down: draining in-flight requests');
      const deadline = performance.now() + config.server.shutdown_timeout;
      await main.drain(config.server.shutdown_timeout);
      live.close();
      websockets.close();
      await pools.close();
      // The audit records still queued get what is left of shutdown_timeout, and at least a second.
      await services.close(Math.max(deadline - performance.now(), AUDIT_FLUSH_MIN_MS));
      await Promise.all([closeServer(admin), echo === null ? undefined : closeServer(echo.server)]);
      clearInterval(flusher);
      log.info({}, 'shutdown complete');
      log.flush();
    },
  };
}
