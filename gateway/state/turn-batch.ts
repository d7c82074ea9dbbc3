// Gathers the calls of one event-loop turn into one Redis command (a script that answers one entry per
// call). No connection code: the caller's `send` builds and sends the command.

/** One call's failure inside a batch that Redis ran: the server answered an error for that entry only. */
export class EntryError extends Error {
  // The breaker reads the name: an error the server answered is not an outage (limiter.ts).
  override readonly name = 'ReplyError';
}

interface Waiter<I, R> {
  readonly item: I;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export interface TurnBatchOptions<I, R> {
  /** Sends the items as one command; resolves to its reply, one entry per item in their order. */
  send(items: readonly I[]): Promise<unknown>;
  /** One entry of the reply for its item; throw to fail that item alone. */
  decode(item: I, entry: unknown): R;
  /** What an item gets whose entry is a string: its commands failed in Redis (the others did not). */
  failed(message: string): unknown;
  /** Thrown to every item when the reply is not one entry per item. */
  malformed(): unknown;
  /** Items per command at most; a full batch leaves at once. */
  readonly max: number;
  /** True: every item leaves alone, at once (Redis Cluster: one command may touch one hash slot only). */
  readonly alone: boolean;
}

/** Adds an item to the turn's batch; `flushNow` sends what waits at once (a no-op when nothing does). */
export interface TurnBatch<I, R> {
  (item: I): Promise<R>;
  readonly flushNow: () => void;
}

/**
 * The items of one turn leave together, flushed from setImmediate: once the I/O of this turn is read,
 * before the loop waits again, so a lone call waits no longer than a command of its own would
 * (ioredis's auto-pipelining waits the same way). `flushNow` lets them leave earlier, in a write that
 * goes out anyway (redis-store.ts, sendNow).
 */
export function turnBatch<I, R>(options: TurnBatchOptions<I, R>): TurnBatch<I, R> {
  const { send, decode, failed, malformed, max, alone } = options;
  let waiting: Waiter<I, R>[] = [];
  let scheduled = false;

  function settle(w: Waiter<I, R>, entry: unknown): void {
    if (typeof entry === 'string') {
      w.reject(failed(entry));
      return;
    }
    try {
      w.resolve(decode(w.item, entry));
    } catch (err) {
      w.reject(err);
    }
  }

  function flush(): void {
    scheduled = false;
    const batch = waiting;
    if (batch.length === 0) return;
    waiting = [];
    let sent: Promise<unknown>;
    try {
      sent = send(batch.map((w) => w.item));
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (reply) => {
        if (!Array.isArray(reply) || reply.length !== batch.length) {
          const err = malformed();
          for (const w of batch) w.reject(err);
          return;
        }
        for (let i = 0; i < batch.length; i++) settle(batch[i]!, reply[i]);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }

  const add = (item: I): Promise<R> => {
    const answered = new Promise<R>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
    });
    if (alone || waiting.length === max) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
    return answered;
  };
  // A setImmediate already scheduled then finds nothing waiting, or the items of later in the turn.
  return Object.assign(add, { flushNow: flush });
}
