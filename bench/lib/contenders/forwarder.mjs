// The minimal Node forwarder as a contender: the limit for a proxy written in Node.
// The forwarder itself lives in ../forwarder.mjs.
import { fileURLToPath } from 'node:url';
import { expectUpstreamBody } from '../check.mjs';
import { freePort, waitForPort } from '../processes.mjs';

const SCRIPT = fileURLToPath(new URL('../forwarder.mjs', import.meta.url));

export const forwarderContender = {
  name: 'forwarder',
  label: 'minimal node:http + undici Pool.stream forwarder',
  kind: 'proxy',
  unavailable: () => null,
  async start(ctx) {
    const port = await freePort();
    const proc = ctx.spawnNode('forwarder', SCRIPT, [String(port), ctx.target.origin]);
    await waitForPort(port, proc);
    return { url: `http://127.0.0.1:${port}/`, pid: proc.pid };
  },
  check: (instance) => expectUpstreamBody(instance.url),
};
