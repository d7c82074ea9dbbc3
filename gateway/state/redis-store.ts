// The Redis StateStore (the only module importing ioredis): standalone, Sentinel or Cluster, with the
// rate-limit backend on the same connection. Every failure is state_unavailable; nothing queues or hangs.
//
// Failure behaviour (DESIGN.md, Storage): no offline queue, a 1 s command timeout, no retry or resend of
// a command, reconnection forever with a backoff capped at 1 s. A store created while Redis is down is
// created anyway, answers state_unavailable, and recovers by itself. Errors are translated here by
// class (ReplyError: the server answered with an error) and never by message text (the one exception
// is Redis's NOSCRIPT error code, which asks for a script's text); all of them are state_unavailable
// to callers. Key layout: redis-codec.ts; rotation protocol: redis-sessions.ts.
//
// URLs (parsed by config/redis-url.ts; percent-encode reserved characters in credentials):
//   redis://[[user:]pass@]host[:port][/db]          rediss://… the same over TLS
//   redis-sentinel://[[user:]pass@]host1[:port],host2[:port]/master[/db][?sentinel_password=…]
//   redis-cluster://[[user:]pass@]host1[:port],host2[:port]
// checkAccess is one EVALSHA (one round trip), the request's per-user rate-limit counters included,
// shared with the other requests of the same event-loop turn; only the first call after Redis lost
// its script cache (restart) costs a second one, answering NOSCRIPT with EVAL.
import { createHash } from 'node:crypto';
import { Cluster, Command, Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl, type RedisTarget } from '../../config/redis-url.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  type CounterOp,
  type CountOp,
  createBreaker,
  createRedisLimiters,
  handshakeWaiter,
  type LimiterBackend,
} from './limiter.js';
import { KEY_PREFIX, redisKeys } from './redis-codec.js';
import { SCRIPTS, type ScriptName } from './redis-scripts.js';
import { createRedisSessions, type RedisCommands } from './redis-sessions.js';
import {
  decodeSessionEvent,
  encodeSessionEvent,
  type SessionEvent,
  type SessionEvents,
} from './session-events.js';
import type { CounterHit, StateStore } from './state-store.js';
import { EntryError, turnBatch } from './turn-batch.js';

/** DESIGN.md: a store that does not answer within 1 s is unavailable. */
const COMMAND_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 1000;
const MAX_BACKOFF_MS = 1000;

export interface RedisStateOptions {
  readonly tombstoneTtlMs: number;
  readonly log: Logger;
}

export interface RedisState {
  readonly store: StateStore;
  /** Counters on the same connection; closing the store closes them too. */
  readonly limiters: LimiterBackend;
  /** Session events over pub/sub on the same Redis (a connection of its own, opened on first subscribe). */
  readonly events: SessionEvents;
}

const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 5), MAX_BACKOFF_MS);

/**
 * Commands of concurrent requests share one write: the library's own limiter command (block) and the
 * plain commands of the profile cache and DPoP's replay check. Our scripts never go through it
 * (sendScript): the session checks and the limiters' counter operations batch themselves per turn, and
 * the scripts of logins, refreshes, logouts and admin changes are rarely two in one turn; what they send
 * in one tick shares a write anyway (sendNow). Plain commands of those paths go out directly too: auto-pipelining a lone
 * command (a Pipeline object copying every script defined on the client, a setImmediate) cost 65–68 µs
 * of CPU against 37–41 µs sent directly (and 30 µs more latency), measured with ioredis here.
 */
const pipelining = {
  enableAutoPipelining: true,
  autoPipeliningIgnoredCommands: [
    // Not SET: DPoP's replay check (SET NX) runs on every DPoP request.
    'del',
    'pexpireat',
    'publish',
  ],
} satisfies RedisOptions;

function connect(target: RedisTarget): Redis | Cluster {
  // No offline queue and no resend: a command is sent at most once and fails fast while disconnected,
  // so no request waits on a dead Redis and no rotation is replayed after a reconnect.
  const safety = {
    enableOfflineQueue: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    username: target.username,
    password: target.password,
  } satisfies RedisOptions;
  switch (target.kind) {
    case 'standalone':
      return new Redis({
        ...safety,
        host: target.node.host,
        port: target.node.port,
        db: target.db,
        tls: target.tls ? { servername: target.node.host } : undefined,
        retryStrategy: backoff,
        ...pipelining,
      });
    case 'sentinel':
      return new Redis({
        ...safety,
        sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
        name: target.masterName,
        db: target.db,
        sentinelPassword: target.sentinelPassword,
        retryStrategy: backoff,
        sentinelRetryStrategy: backoff,
        ...pipelining,
      });
    case 'cluster':
      // No auto-pipelining: before the slot map is known it waits for readiness without a deadline.
      return new Cluster(
        target.nodes.map((n) => ({ host: n.host, port: n.port })),
        {
          enableOfflineQueue: false,
          clusterRetryStrategy: backoff,
          slotsRefreshTimeout: COMMAND_TIMEOUT_MS,
          redisOptions: safety,
        },
      );
  }
}

const SHAS = new Map<ScriptName, string>(
  (Object.keys(SCRIPTS) as ScriptName[]).map((name) => [
    name,
    createHash('sha1').update(SCRIPTS[name].lua).digest('hex'),
  ]),
);

/**
 * Sends one of our scripts directly, with arguments the caller built as one array (key count,
 * keys, arguments), which becomes the command's own. ioredis's script functions (defineCommand) copy
 * their arguments four times and flatten them (Array.prototype.flat, slow per element on Node 20),
 * ≈ 0.7 µs per request of a batched check, and every script defined on the client is copied onto each
 * auto-pipelined Pipeline: ours are not defined there. The array is handed to the command after it
 * is made (Command's public `args`, which the command would otherwise have turned into strings
 * already: hence strings only). EVALSHA, then EVAL when Redis answers NOSCRIPT (its script cache was
 * emptied by a restart).
 */
function sendScript(client: Redis | Cluster, name: ScriptName, args: string[]): Promise<unknown> {
  const send = (how: 'evalsha' | 'eval', head: string): Promise<unknown> => {
    const command = new Command(how, [], { replyEncoding: 'utf8' });
    args[0] = head;
    command.args = args;
    return sendNow(client, command);
  };
  args.unshift('');
  return send('evalsha', SHAS.get(name)!).catch((err: unknown) => {
    if (!(err instanceof Error && err.name === 'ReplyError' && err.message.startsWith('NOSCRIPT'))) throw err;
    return send('eval', SCRIPTS[name].lua);
  });
}

/** Sockets corked until the end of this tick (see sendNow). */
const corked = new WeakSet<Redis['stream']>();

/**
 * Per client, the counter operations waiting for their turn's end (createCounter): sent at once. Not
 * the session checks' batch (redis-sessions.ts): it waits for the turn's end to gather every request
 * read in that turn, and leaving early would split it into more writes on the proxied path.
 */
const pendingCounts = new WeakMap<Redis | Cluster, () => void>();

/**
 * Sends a command directly (not auto-pipelined), in the same socket write as the other direct commands
 * of this tick: the socket is corked at the first and uncorked once the tick's callbacks and microtasks
 * ran. A write to Redis costs the event loop ≈ 25–100 µs here (the kernel wakes Redis), so a login's
 * refresh index and session script leave in one write instead of two. The counter operations waiting
 * for the turn's end join that write too: a login's lock reset goes with its session. Cluster routes
 * each command to its node itself: sent as it comes.
 */
function sendNow(client: Redis | Cluster, command: Command): Promise<unknown> {
  if (client instanceof Redis && client.status === 'ready') {
    const stream = client.stream;
    if (!corked.has(stream)) {
      corked.add(stream);
      stream.cork();
      process.nextTick(() => {
        // Still corked: the counts' script joins this write instead of taking one of its own.
        pendingCounts.get(client)?.();
        corked.delete(stream);
        stream.uncork();
      });
    }
  }
  return client.sendCommand(command) as Promise<unknown>;
}

function counterHit(entry: unknown): CounterHit {
  if (!Array.isArray(entry) || typeof entry[0] !== 'number' || typeof entry[1] !== 'number')
    throw new EntryError('unreadable counter reply in Redis');
  return [entry[0], entry[1]];
}

/** Counter operations per pcCount at most: the script blocks Redis for a few µs per operation. */
const MAX_COUNTS = 100;

/**
 * The rate limiters' counter operations of one event-loop turn (hits, and the reads, resets and
 * refunds of logins), run by one pcCount sent directly: the library sends one command (or MULTI) per
 * operation. Errors stay ioredis's own (or EntryError, which the breaker reads as an answer, not an
 * outage): the limiter picks its insurance or fails closed.
 */
function createCounter(client: Redis | Cluster): CountOp {
  const count = turnBatch<CounterOp, CounterHit>({
    send(batch) {
      const args = [String(batch.length)];
      for (const c of batch) args.push(c.key);
      for (const c of batch) args.push(c.op, String(c.seconds));
      return sendScript(client, 'pcCount', args);
    },
    decode: (_counter, entry) => counterHit(entry),
    failed: (message) => new EntryError(message),
    malformed: () => new EntryError('unreadable counter reply in Redis'),
    max: MAX_COUNTS,
    alone: client instanceof Cluster,
  });
  pendingCounts.set(client, count.flushNow);
  return count;
}

export function createRedisStateStore(url: string, options: RedisStateOptions): RedisState {
  const { log } = options;
  const client = connect(parseRedisUrl(url));

  let unreachable = false;
  const down = (err: unknown): void => {
    if (unreachable) return;
    unreachable = true;
    log.warn({ err }, 'state store unreachable: account checks answer state_unavailable until it returns');
  };
  client.on('error', down);
  client.on('node error', down);
  client.on('ready', () => {
    if (unreachable) log.info({}, 'state store reachable again');
    unreachable = false;
  });

  // During a (re)connection handshake, wait for it (bounded) rather than fail a request that arrived a
  // few ms early, e.g. right after start-up. Disconnected states fail at once. Shared with the limiters.
  const whenConnecting = handshakeWaiter(client);

  // One breaker for the store and the limiters on this connection: after a timeout or a broken
  // connection every command fails at once for a moment instead of each waiting out its own timeout,
  // so a request that needs several commands answers 503 in ~1 s, not ~1 s per command.
  const breaker = createBreaker(client);
  const failed = (err: unknown): never => {
    if (err instanceof GatewayError) throw err;
    // The server answered with an error (script fault, OOM, READONLY): not an outage, worth an alert.
    if (err instanceof Error && err.name === 'ReplyError') log.error({ err }, 'state store command failed');
    breaker.trip(err);
    throw new GatewayError('state_unavailable', { cause: err });
  };
  // Not async: on the per-request path the command's own promise and one catch are all it costs.
  function call<T>(op: () => Promise<T>): Promise<T> {
    if (breaker.open()) {
      return Promise.reject(
        new GatewayError('state_unavailable', { cause: new Error('state store failed moments ago') }),
      );
    }
    const pending = whenConnecting();
    let sent: Promise<T>;
    try {
      sent = pending === null ? op() : pending.then(op);
    } catch (err) {
      sent = Promise.reject(err);
    }
    return sent.catch(failed);
  }

  const channel = `${KEY_PREFIX}session-events`;
  const commands: RedisCommands = {
    script(name, ...args) {
      const keys = SCRIPTS[name].numberOfKeys;
      const all = args.map(String);
      if (keys !== undefined) all.unshift(String(keys));
      return call(() => sendScript(client, name, all));
    },
    scriptArray: (name, args) => call(() => sendScript(client, name, args)),
    mixesUsers: !(client instanceof Cluster),
    get: (key) => call(() => client.get(key)),
    async setUntil(key, value, atMs) {
      // Direct: it leaves with the script sent in the same tick (a login's session, a refresh's rotation).
      await call(() =>
        sendNow(client, new Command('set', [key, value, 'PXAT', atMs], { replyEncoding: 'utf8' })),
      );
    },
    async expireAt(key, atMs) {
      await call(() => client.pexpireat(key, atMs));
    },
    async dropKeys(keys) {
      // One DEL per key: on Cluster the keys are in different slots.
      await Promise.all(keys.map((k) => call(() => client.del(k)))).catch((err: unknown) =>
        log.warn({ err }, 'state store: stale refresh index entries left to expire'),
      );
    },
    warn: (obj, msg) => log.warn(obj, msg),
    error: (obj, msg) => log.error(obj, msg),
  };

  const store: StateStore = {
    kind: 'redis',
    ...createRedisSessions(commands, options.tombstoneTtlMs, channel),

    async getProfile(userId) {
      return call(() => client.get(redisKeys.profile(userId)));
    },
    async setProfile(userId, json, ttlMs) {
      if (ttlMs <= 0) return store.dropProfile(userId);
      await call(() => client.set(redisKeys.profile(userId), json, 'PX', Math.ceil(ttlMs)));
    },
    async dropProfile(userId) {
      await call(() => client.del(redisKeys.profile(userId)));
    },

    async firstSeen(key, ttlMs) {
      if (ttlMs <= 0) return true;
      return (await call(() => client.set(redisKeys.seen(key), '1', 'PX', Math.ceil(ttlMs), 'NX'))) === 'OK';
    },

    async ping() {
      await call(() => client.ping());
    },

    async close() {
      if (client.status === 'end') return;
      if (
        client.status === 'ready' &&
        (await client.quit().then(
          () => true,
          () => false,
        ))
      )
        return;
      client.disconnect();
    },
  };

  // A subscribed connection can only listen, so subscribers get their own; ioredis resubscribes after a
  // reconnect. Events missed while it was down are covered by the subscribers' periodic check.
  const handlers = new Set<(event: SessionEvent) => void>();
  let subscriber: Redis | Cluster | null = null;
  const events: SessionEvents = {
    async publish(event) {
      await call(() => client.publish(channel, encodeSessionEvent(event)));
    },
    subscribe(handler) {
      handlers.add(handler);
      if (subscriber === null) {
        const sub = client.duplicate();
        subscriber = sub;
        sub.on('error', () => undefined); // the main connection reports outages
        sub.on('ready', () => {
          sub
            .subscribe(channel)
            .catch((err: unknown) => log.warn({ err }, 'session events: subscribe failed'));
        });
        sub.on('message', (_channel: string, message: string) => {
          const event = decodeSessionEvent(message);
          if (event !== null) for (const h of handlers) h(event);
        });
      }
      return () => handlers.delete(handler);
    },
    async close() {
      handlers.clear();
      subscriber?.disconnect();
      subscriber = null;
    },
  };

  const limiters = createRedisLimiters(client, KEY_PREFIX, breaker, whenConnecting, createCounter(client));
  return { store, limiters, events };
}
