// Correctness checks run on every contender before it is timed: a figure for a proxy that answers
// wrongly is worthless. It only asserts; it does not start or time anything.
import { PAYLOAD } from './payload.mjs';

/** GET `url` must answer 200 with exactly the upstream's body. */
export async function expectUpstreamBody(url, { headers } = {}) {
  const res = await fetch(url, { headers });
  const body = await res.text();
  if (res.status !== 200 || body !== PAYLOAD) {
    throw new Error(
      `GET ${url} answered ${res.status} ${JSON.stringify(body.slice(0, 200))}; expected 200 and the upstream's body`,
    );
  }
}
