// Assembles one gateway process: runtime state, main listener, admin listener, the optional echo
// upstream, reload and graceful shutdown. The CLI calls it; tests call it with port 0. As a cluster
// worker it reloads and reports metrics through the primary (ClusterLink), never on its own.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminApi } from '../admin/api.js';
import { createMetrics, type MetricsSnapshot, renderMetrics } from '../admin/metrics.js';
import { metricsStats } from '../admin/metrics-stats.js';
import { createAdminPage } from '../admin/page.js';
import { createAdminServer } from '../admin/server.js';
import type { GatewayConfig } from '../config/types.js';
import { createEchoUpstream } from './echo-upstream.js';
import { createLiveRevocation } from './live-revocation.js';
import type { Logger } from './logger.js';
import { instrumentStateStore } from './metrics.js';
import { createOperations } from './operations.js';
import { createOpenConnections } from './pipeline/live-connections.js';
import { changeOf, logChange, type ReloadReport, reloadFailed } from './reload.js';
import { compileRuntime, originsOf, type RuntimeState } from './runtime.js';
import { createMainListener } from './server.js';
import { createServices, type Services } from './services.js';
import { PoolRegistry } from './upstream/http-client.js';
import { lazyWebSocketRelay } from './upstream/websocket-lazy.js';

/** Longest a log line waits in the logger's buffer (ms). */
const LOG_FLUSH_MS = 1_000;
/** At shutdown the audit writer gets at least this long (ms), even when the drain used up the timeout. */
const AUDIT_FLUSH_MIN_MS = 1_000;

/** How a cluster worker reaches the primary, which owns the config file and the generation. */
export interface ClusterLink {
  /** Asks the primary to reload every worker; resolves once all of them answered. */
  reload(): Promise<ReloadReport>;
  /** The metrics of every worker, gathered by the primary (rejects when one does not answer). */
  snapshots(): Promise<MetricsSnapshot[]>;
}

export interface StartOptions {
  readonly config: GatewayConfig;
  /** Re-reads the config for SIGHUP and the admin reload; throws (e.g. ConfigError) when it is invalid. */
  readonly reloadConfig?: () => GatewayConfig;
  /** A cluster worker: reloads and metrics go through the primary (reloadConfig is then unused). */
  readonly cluster?: ClusterLink;
  /**
   * The config in force, when it is not `config`: a worker started after reloads opens its stores and
   * listeners from the config the cluster started with (`config`) and runs the reloaded one, as its peers do.
   */
  readonly current?: GatewayConfig;
  /** The generation of the config in force (the primary's count); default 1. */
  readonly generation?: number;
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
  /**
   * Swaps in a freshly loaded config, in every worker when there are workers; on failure the old one
   * stays everywhere and the report says why.
   */
  reload(): Promise<ReloadReport>;
  /**
   * Compiles `config` as `generation` without swapping it in (throws when it does not compile); the
   * returned function swaps it in. The two steps of a cluster reload.
   */
  prepare(config: GatewayConfig, generation: number): () => void;
  /** This process's metrics, for the worker answering a scrape. */
  snapshot(): Promise<MetricsSnapshot>;
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
  // Shared by every runtime: a reload re-checks the connections opened under the configs before it.
  const connections = createOpenConnections(live, log);
  const deps = {
    pools,
    websockets,
    connections,
    log,
    onStateSkip: () => {
      stateChecksSkipped++;
    },
  };
  let state = compileRuntime(options.current ?? options.config, services, deps, options.generation ?? 1);
  const preloadRelay = (c: GatewayConfig): void => {
    if (c.routes.some((r) => r.websocket)) websockets.preload();
  };
  preloadRelay(state.config);
  let shuttingDown = false;
  const config = options.config;

  const echo =
    config.echo_upstream === null ? null : { server: createEchoUpstream(), at: config.echo_upstream };

  function prepare(nextConfig: GatewayConfig, generation: number): () => void {
    const next = compileRuntime(nextConfig, services, deps, generation);
    return () => {
      state = next;
      preloadRelay(nextConfig);
      pools.retainOnly(originsOf(next));
      log.info({ generation: next.generation, routes: next.routes.length }, 'config reloaded');
      connections.recheck(next);
    };
  }

  /** Without workers: this process reads, checks, compiles and swaps, and owns the generation. */
  function reloadHere(): ReloadReport {
    if (options.reloadConfig === undefined)
      return reloadFailed(state.generation, 'invalid_config', 'no config file to reload');
    try {
      const nextConfig = options.reloadConfig();
      const commit = prepare(nextConfig, state.generation + 1);
      const change = changeOf(options.config, state.config, nextConfig);
      commit();
      logChange(log, change);
      return { ok: true, generation: state.generation, workers: 1, ...change };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log.error({ err: error }, 'config reload failed: keeping the current config');
      log.flush();
      return reloadFailed(state.generation, 'invalid_config', error);
    }
  }

  const cluster = options.cluster;
  const reload = (): Promise<ReloadReport> =>
    cluster === undefined ? Promise.resolve(reloadHere()) : cluster.reload();
  const snapshots = async (): Promise<MetricsSnapshot[]> =>
    cluster === undefined ? [await metrics.snapshot()] : cluster.snapshots();

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
    // Read per request: a reload that changes admin.token rotates it (its old value stops working).
    token: () => state.config.admin.token,
    allowedHosts: () => state.config.admin.allowed_hosts,
    tokenGate: () => state.adminGate,
    ipv6LimitPrefix: () => state.config.server.ipv6_limit_prefix,
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
      return { draining: shuttingDown, failing };
    },
    api: createAdminApi({
      services,
      operations,
      current: () => state,
      reload,
      stats: async () => metricsStats(await snapshots()),
    }),
    metrics: async () => renderMetrics(await snapshots()),
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
    prepare,
    snapshot: () => metrics.snapshot(),
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
