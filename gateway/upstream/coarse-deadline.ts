// Deadlines to within a fifth of a second, for what every proxied request arms and almost always clears
// long before it is due: one interval ticks while any is pending, and each sits in a linked ring, so
// arming and clearing one is a few property writes instead of a Node timer. It keeps no other state.

/** The clock's tick (ms): a deadline fires no earlier than its time and at most two ticks later. */
export const TICK_MS = 100;

let ticks = 0;
let interval: NodeJS.Timeout | null = null;

/** One deadline: start() arms or re-arms it, stop() clears it; its expiry runs from the interval only. */
export class CoarseDeadline {
  /** Ring links (module-internal); null while not armed. */
  prev: CoarseDeadline | null = null;
  next: CoarseDeadline | null = null;
  /** The tick at which it fires (module-internal). */
  due = 0;
  readonly onExpire: () => void;

  constructor(onExpire: () => void) {
    this.onExpire = onExpire;
  }

  get armed(): boolean {
    return this.prev !== null;
  }

  start(ms: number): void {
    // +1: the next tick may come at once, and a deadline never fires before its time.
    this.due = ticks + Math.ceil(ms / TICK_MS) + 1;
    if (this.prev === null) link(this);
  }

  stop(): void {
    // -1 also tells a tick that unlinked it as due, and has not run it yet, that it was cleared.
    this.due = -1;
    if (this.prev !== null) unlink(this);
  }

  /** What is left of an armed deadline (ms, at least 1); 0 when it is not armed. */
  remainingMs(): number {
    return this.prev === null ? 0 : Math.max(1, (this.due - ticks - 1) * TICK_MS);
  }
}

// A sentinel ring: an armed deadline always has both neighbours, so linking and unlinking never branch.
const ring = new CoarseDeadline(() => undefined);
ring.prev = ring;
ring.next = ring;

function link(d: CoarseDeadline): void {
  const last = ring.prev!;
  d.prev = last;
  d.next = ring;
  last.next = d;
  ring.prev = d;
  if (interval === null) {
    interval = setInterval(tick, TICK_MS);
    // Whatever waits on a deadline (a socket, a client) keeps the process alive by itself.
    interval.unref();
  }
}

function unlink(d: CoarseDeadline): void {
  d.prev!.next = d.next;
  d.next!.prev = d.prev;
  d.prev = null;
  d.next = null;
}

function tick(): void {
  ticks++;
  let due: CoarseDeadline[] | null = null;
  for (let d = ring.next!; d !== ring; d = d.next!) {
    if (d.due > ticks) continue;
    if (due === null) due = [d];
    else due.push(d);
  }
  if (due !== null) {
    // All unlinked first: an expiry may start or stop other deadlines, this tick's included.
    for (const d of due) unlink(d);
    for (const d of due) if (!d.armed && d.due !== -1) d.onExpire();
  }
  if (ring.next === ring && interval !== null) {
    clearInterval(interval);
    interval = null;
  }
}
