// Requests and replies over node:cluster IPC between the primary and one worker: the message shapes, their
// checks, and a small request/reply channel with timeouts. What each request does lives in cluster*.ts.

/**
 * Worker → primary: `config` (the texts in force), `ready` (listening, on generation N), `reload`, `gather`
 * (every worker's metrics). Primary → worker: `prepare` (compile, don't swap), `commit` (swap), `abort`
 * (drop), `snapshot` (this worker's metrics).
 */
export type ClusterRequest =
  | { readonly kind: 'config' }
  | { readonly kind: 'ready'; readonly generation: number }
  | { readonly kind: 'reload' }
  | { readonly kind: 'gather' }
  | { readonly kind: 'prepare'; readonly text: string; readonly generation: number }
  | { readonly kind: 'commit'; readonly generation: number }
  | { readonly kind: 'abort'; readonly generation: number }
  | { readonly kind: 'snapshot' };

/** Tells our messages from any other user of the channel (prom-client's, node's own). */
const CHANNEL = 'portcullis';

export type ClusterMessage =
  | { readonly ch: typeof CHANNEL; readonly id: number; readonly request: ClusterRequest }
  | { readonly ch: typeof CHANNEL; readonly id: number; readonly reply: unknown };

/** A reply, or why there is none: the other side did not answer in time or went away. */
export type Answer =
  | { readonly ok: true; readonly body: unknown }
  | { readonly ok: false; readonly why: 'timeout' | 'gone' };

const KINDS = new Set(['config', 'ready', 'reload', 'gather', 'prepare', 'commit', 'abort', 'snapshot']);

function isRequest(value: unknown): value is ClusterRequest {
  if (value === null || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  if (typeof r.kind !== 'string' || !KINDS.has(r.kind)) return false;
  if (r.kind === 'ready' || r.kind === 'commit' || r.kind === 'abort')
    return typeof r.generation === 'number';
  if (r.kind === 'prepare') return typeof r.text === 'string' && typeof r.generation === 'number';
  return true;
}

function isMessage(value: unknown): value is ClusterMessage {
  if (value === null || typeof value !== 'object') return false;
  const m = value as Record<string, unknown>;
  return m.ch === CHANNEL && typeof m.id === 'number' && ('reply' in m || isRequest(m.request));
}

export interface Channel {
  /** Sends a request and resolves with its reply, or with why none came within `timeoutMs`. */
  ask(request: ClusterRequest, timeoutMs: number): Promise<Answer>;
  /** Sends a request whose reply does not matter. */
  tell(request: ClusterRequest): void;
  /** Handles one incoming IPC message; false when it is not ours. */
  receive(message: unknown): boolean;
  /** The other side is gone: every pending request resolves as `gone`, later ones at once. */
  close(): void;
}

/**
 * One side of the conversation with one process. `send` writes a message (worker.send or process.send);
 * `serve` answers the other side's requests (its result, awaited, is the reply).
 */
export function createChannel(
  send: (message: ClusterMessage) => void,
  serve: (request: ClusterRequest) => unknown,
): Channel {
  let nextId = 1;
  let closed = false;
  const pending = new Map<number, (answer: Answer) => void>();

  const post = (message: ClusterMessage): boolean => {
    if (closed) return false;
    try {
      send(message);
      return true;
    } catch {
      // The channel closed under us (the process is exiting): the exit handler closes this side.
      return false;
    }
  };

  return {
    ask(request, timeoutMs) {
      const id = nextId++;
      return new Promise<Answer>((resolve) => {
        const timer = setTimeout(() => settle({ ok: false, why: 'timeout' }), timeoutMs);
        timer.unref();
        const settle = (answer: Answer): void => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(answer);
        };
        pending.set(id, settle);
        if (!post({ ch: CHANNEL, id, request })) settle({ ok: false, why: 'gone' });
      });
    },
    tell(request) {
      post({ ch: CHANNEL, id: nextId++, request });
    },
    receive(message) {
      if (!isMessage(message)) return false;
      if ('reply' in message) {
        pending.get(message.id)?.({ ok: true, body: message.reply });
        return true;
      }
      const { id, request } = message;
      // A handler that throws answers with the error's message: the asking side gets a reply, not a timeout.
      Promise.resolve()
        .then(() => serve(request))
        .then(
          (reply: unknown) => post({ ch: CHANNEL, id, reply: reply ?? null }),
          (err: unknown) =>
            post({ ch: CHANNEL, id, reply: { error: err instanceof Error ? err.message : String(err) } }),
        );
      return true;
    },
    close() {
      closed = true;
      for (const settle of [...pending.values()]) settle({ ok: false, why: 'gone' });
    },
  };
}
