// Runs the StateStore contract against the in-process store, on a frozen clock that the suite advances.
import { createMemoryStateStore } from '../../../gateway/state/memory-store.js';
import { runStateStoreSuite } from './state-store.suite.js';

runStateStoreSuite('memory', async ({ tombstoneTtlMs }) => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const clock = {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
  };
  const store = createMemoryStateStore({ tombstoneTtlMs, now: clock.now });
  return { store, clock, cleanup: () => store.close() };
});
