// A cluster worker's side of the conversation with the primary: it starts on the config the primary
// hands it (never the file: that may have changed since), asks the primary for reloads and metrics, and
// compiles, swaps or drops a config when the primary says so. The reload decisions are cluster-reload.ts's.
import { isMetricsSnapshot, type MetricsSnapshot } from '../admin/metrics.js';
import type { GatewayConfig } from '../config/types.js';
import { createChannel } from './cluster-rpc.js';
import type { ClusterLink, GatewayHandle } from './gateway.js';
import type { Logger } from './logger.js';
import { fingerprintOf, isReloadReport, type ReloadReport, reloadFailed } from './reload.js';

/** The primary answers at once unless a reload runs (bounded by its own timeouts, a few seconds). */
const CONFIG_TIMEOUT_MS = 30_000;
/** A reload waits for every worker to prepare and commit (5 s each at most) behind any reload queued. */
const RELOAD_TIMEOUT_MS = 60_000;
/** The primary gives each worker 5 s to hand over its metrics. */
const GATHER_TIMEOUT_MS = 8_000;

export interface WorkerLink extends ClusterLink {
  /** The config text the cluster started on, the one in force and its generation. */
  config(): Promise<{ started: string; text: string; generation: number }>;
  /** Answers the primary's requests for `gateway` from now on, and tells it this worker is ready. */
  serve(gateway: GatewayHandle, parse: (text: string) => GatewayConfig, log: Logger): void;
}

export function connectToPrimary(): WorkerLink {
  let gateway: GatewayHandle | null = null;
  let parse: ((text: string) => GatewayConfig) | null = null;
  let log: Logger | null = null;
  // The compiled config waiting for the primary's commit (or abort) of the same generation.
  let prepared: { readonly generation: number; readonly swap: () => void } | null = null;

  const channel = createChannel(
    (message) => {
      // With a callback a failed send is not an 'error' event; the primary going away ends this process.
      process.send?.(message, undefined, undefined, () => undefined);
    },
    async (request) => {
      if (gateway === null || parse === null) return { error: 'this worker is still starting' };
      switch (request.kind) {
        case 'prepare':
          prepared = null;
          try {
            const config = parse(request.text);
            prepared = { generation: request.generation, swap: gateway.prepare(config, request.generation) };
            return { fingerprint: fingerprintOf(config) };
          } catch (err) {
            const error = err instanceof Error ? err.message : String(err);
            log?.error(
              { err: error, generation: request.generation },
              'config reload: this worker refused the config',
            );
            return { error };
          }
        case 'commit': {
          // Messages arrive in order, so this is the prepare it follows; the check is cheap insurance.
          if (prepared?.generation !== request.generation) {
            return { error: `nothing prepared for generation ${request.generation}` };
          }
          const { swap } = prepared;
          prepared = null;
          swap();
          return { committed: request.generation };
        }
        case 'abort':
          if (prepared?.generation === request.generation) prepared = null;
          return null;
        case 'snapshot':
          return gateway.snapshot();
        default:
          return { error: `${request.kind} is not a request for a worker` };
      }
    },
  );
  process.on('message', (message: unknown) => channel.receive(message));
  process.once('disconnect', () => channel.close());

  return {
    async config() {
      const answer = await channel.ask({ kind: 'config' }, CONFIG_TIMEOUT_MS);
      const body = answer.ok
        ? (answer.body as { started?: unknown; text?: unknown; generation?: unknown } | null)
        : null;
      if (
        typeof body?.started !== 'string' ||
        typeof body.text !== 'string' ||
        typeof body.generation !== 'number'
      ) {
        throw new Error('the cluster primary did not hand over the config');
      }
      return { started: body.started, text: body.text, generation: body.generation };
    },
    serve(handle, parseText, logger) {
      gateway = handle;
      parse = parseText;
      log = logger;
      channel.tell({ kind: 'ready', generation: handle.current().generation });
    },
    async reload(): Promise<ReloadReport> {
      const generation = gateway?.current().generation ?? 0;
      const answer = await channel.ask({ kind: 'reload' }, RELOAD_TIMEOUT_MS);
      if (!answer.ok) return reloadFailed(generation, 'worker_failed', 'the cluster primary did not answer');
      if (!isReloadReport(answer.body)) {
        return reloadFailed(generation, 'worker_failed', 'the cluster primary answered something else');
      }
      return answer.body;
    },
    async snapshots(): Promise<MetricsSnapshot[]> {
      const answer = await channel.ask({ kind: 'gather' }, GATHER_TIMEOUT_MS);
      const body = answer.ok ? (answer.body as { snapshots?: unknown; error?: unknown } | null) : null;
      if (typeof body?.error === 'string') throw new Error(`metrics: ${body.error}`);
      const snapshots = body?.snapshots;
      if (!Array.isArray(snapshots) || !snapshots.every(isMetricsSnapshot)) {
        throw new Error("metrics: the cluster primary did not gather the workers' metrics");
      }
      return snapshots;
    },
  };
}
