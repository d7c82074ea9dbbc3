// How long an operation took, for the tests that bound a wait (fail-fast, slowloris, timeouts).
import { performance } from 'node:perf_hooks';

export async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await run();
  return { value, ms: performance.now() - t0 };
}
