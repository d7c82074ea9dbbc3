// nginx proxy_pass with upstream keep-alive as a contender: the cost of a proxy hop done in C.
// The config generation lives in ../nginx.mjs.
import { expectUpstreamBody } from '../check.mjs';
import { nginxPath, startNginxProxy } from '../nginx.mjs';
import { freePort } from '../processes.mjs';

export const nginxProxyContender = {
  name: 'nginx',
  label: 'nginx proxy_pass, upstream keep-alive',
  kind: 'proxy',
  unavailable: () => (nginxPath() ? null : 'nginx not on PATH'),
  async start(ctx) {
    const port = await freePort();
    const proc = await startNginxProxy(port, ctx.target.origin, ctx);
    return { url: `http://127.0.0.1:${port}/`, pid: proc.pid };
  },
  check: (instance) => expectUpstreamBody(instance.url),
};
