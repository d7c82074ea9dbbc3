// The minimal Node forwarder as a contender: the limit for a proxy written in Node; and the same
// forwarder adding the header fields of the gateway's contract, what those fields alone cost. The
// forwarder itself lives in ../forwarder.mjs.
import { fileURLToPath } from 'node:url';
import { expectUpstreamBody } from '../check.mjs';
import { freePort, waitForPort } from '../processes.mjs';

const SCRIPT = fileURLToPath(new URL('../forwarder.mjs', import.meta.url));

function createForwarderContender({ name, label, flags = [] }) {
  return {
    name,
    label,
    kind: 'proxy',
    unavailable: () => null,
    async start(ctx) {
      const port = await freePort();
      const proc = ctx.spawnNode(name, SCRIPT, [String(port), ctx.target.origin, ...flags]);
      await waitForPort(port, proc, ctx.startTimeoutMs);
      return { url: `http://127.0.0.1:${port}/`, pid: proc.pid };
    },
    check: (instance) => expectUpstreamBody(instance.url),
  };
}

export const forwarderContender = createForwarderContender({
  name: 'forwarder',
  label: 'minimal node:http + undici Pool.stream forwarder',
});

export const forwarderHeadersContender = createForwarderContender({
  name: 'forwarder-headers',
  label: "the minimal forwarder adding the contract's header fields (4 upstream, 4 on the answer)",
  flags: ['--contract-headers'],
});
